"""Runs every python example of the "Rate limits and retries" section, as a reader would."""

from __future__ import annotations

import pytest

from tests._readme import README, python_blocks, section
from tests.test_ratelimit_redis import redis_url  # noqa: F401 - the session fixture

DOC = README


def examples() -> list[str]:
    return python_blocks(section("Rate limits and retries"))


def test_the_section_has_examples() -> None:
    assert len(examples()) == 4


@pytest.mark.parametrize("source", examples(), ids=["defaults", "locked", "shared", "redis"])
def test_examples_run(
    source: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if "RedisRateLimiter" in source:  # only this one needs the private redis-server
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    exec(compile(source, f"{DOC.name}:example", "exec"), {"__name__": "__main__"})
    if "RateLimitedError as exc" in source:
        assert "locked, try again in 60 s; retries: 0" in capsys.readouterr().out
