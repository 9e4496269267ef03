"""When a failed delivery is tried again, and when it is given up on (dead-lettered).

Exponential back-off with jitter, bounded by a longest wait, and a deadline measured from when
the message was queued (or last put back by hand), not a count of attempts: a receiver that is
down for an afternoon still gets every warning once it is back, however many tries that took,
and a message is given up on only when it is too old to matter. The default schedule waits
about 5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s and then 10 min between tries, and gives up
after 48 hours (some 290 tries); a given-up message stays in the ledger, marked failed, listed by
``GET /v1/deliveries?state=failed`` and ``citybrain deliveries list``, and can be put back.

Jitter ("equal jitter": half the wait fixed, half drawn) keeps many messages queued by one
storm from hammering a receiver that has just come back in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """``first_s`` the first wait, multiplied by ``factor`` each try up to ``longest_s``; given
    up ``give_up_after_s`` after the message was queued; ``jitter`` the share of each wait
    drawn at random (0: none, 1: anywhere from 0 to the wait)."""

    first_s: float = 5.0
    factor: float = 2.0
    longest_s: float = 600.0
    give_up_after_s: float = 48 * 3600.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.first_s > 0 and self.factor >= 1 and self.longest_s >= self.first_s):
            raise ValueError(
                f"a retry policy needs first > 0, factor >= 1 and longest >= first, got {self}"
            )
        if not (self.give_up_after_s >= 0 and 0 <= self.jitter <= 1):
            raise ValueError(f"give_up_after must be >= 0 and jitter in [0, 1], got {self}")

    def nominal_wait(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed try (1: the first), before jitter."""
        exponent = min(max(attempts - 1, 0), 64)  # 2**64 times any first wait passes the cap
        return min(self.first_s * self.factor**exponent, self.longest_s)

    def wait(self, attempts: int, rng: random.Random | None = None) -> float:
        """The wait after the ``attempts``-th failed try, jittered."""
        nominal = self.nominal_wait(attempts)
        draw = (rng or random).random()
        return nominal * (1 - self.jitter) + nominal * self.jitter * draw

    def deadline(self, since: datetime) -> datetime:
        """When a message queued (or put back) at ``since`` is given up on."""
        return since + timedelta(seconds=self.give_up_after_s)

    def schedule(self) -> list[float]:
        """The nominal waits of every try before the deadline (what the README documents)."""
        waits, total, attempts = [], 0.0, 1
        while total + (w := self.nominal_wait(attempts)) <= self.give_up_after_s:
            waits.append(w)
            total += w
            attempts += 1
        return waits
