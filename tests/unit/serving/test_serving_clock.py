"""The service's clock: the data's time, running on with the wall, never backwards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from serving import ServiceClock


def test_the_clock_is_the_latest_origin_plus_the_wall_time_since_and_never_goes_back() -> None:
    clock = ServiceClock()
    before = datetime.now(UTC)
    assert clock.now() >= before  # no data yet: the wall clock
    storm = datetime(2025, 9, 27, 6, tzinfo=UTC)
    clock.observe(storm)
    first = clock.now()
    assert storm <= first < storm + timedelta(seconds=5)
    time.sleep(0.05)
    assert clock.now() - first >= timedelta(seconds=0.05)  # runs on while the feed is quiet
    clock.observe(storm - timedelta(hours=3))  # a backfill from earlier moves nothing
    assert clock.now() >= first
    clock.observe(storm + timedelta(minutes=10))
    assert clock.now() >= storm + timedelta(minutes=10)
