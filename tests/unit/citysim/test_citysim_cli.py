from __future__ import annotations

from click.testing import CliRunner

from citysim.cli import simulate
from features import TABLES, Store


def test_cli_writes_the_five_tables(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(
        simulate, ["--out", str(out), "--days", "2", "--typhoon", "2025-01-02T06:00"]
    )
    assert result.exit_code == 0, result.output
    for name in TABLES:
        assert Store(out).exists(name)
        assert f"{name}:" in result.output
    assert (out / "feed" / "observations-feed.csv").exists()


def test_cli_rejects_a_bad_days_value(tmp_path):
    result = CliRunner().invoke(simulate, ["--out", str(tmp_path), "--days", "0"])
    assert result.exit_code != 0
    assert "--days" in result.output


def test_cli_rejects_a_bad_typhoon_time(tmp_path):
    result = CliRunner().invoke(simulate, ["--out", str(tmp_path), "--typhoon", "soon"])
    assert result.exit_code != 0
    assert "soon" in result.output
