"""``hub worker``'s options are checked before anything starts: a mistyped log level is
one usage line (exit 2), not faust's logging setup failing with a 40-line traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.core.errors import ConfigError


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its options the command asks the broker first: a stand-in that stops there."""

    async def partition_count(*args: object) -> int | None:
        raise ConfigError("reached the broker")

    monkeypatch.setattr("hub.core.kafka.admin.partition_count", partition_count)


def test_a_mistyped_log_level_is_one_usage_line() -> None:
    res = CliRunner().invoke(main, ["worker", "--loglevel", "bogus"])
    assert res.exit_code == 2, res.output
    assert "Invalid value for '--loglevel'" in res.output
    assert "'bogus' is not one of" in res.output
    assert "Traceback" not in res.output and len(res.output.splitlines()) <= 4, res.output


@pytest.mark.parametrize("level", ["info", "WARNING", "Debug"])
def test_the_levels_faust_takes_are_accepted_in_any_case(level: str) -> None:
    res = CliRunner().invoke(main, ["worker", "--loglevel", level])
    assert res.exit_code == 1 and "reached the broker" in res.output, res.output
