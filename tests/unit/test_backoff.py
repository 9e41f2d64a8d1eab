"""The one back-off (hub.core.backoff): bounds, growth, cap, exact mode, checked with
hypothesis over any initial delay, cap, jitter and attempt."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.backoff import DEFAULT_JITTER, Backoff

delays_s = st.floats(min_value=0.001, max_value=3600.0, allow_nan=False)
attempts = st.integers(min_value=0, max_value=10_000)
jitters = st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0)).map(lambda t: tuple(sorted(t)))


@given(delays_s, delays_s, jitters, attempts)
def test_a_delay_stays_within_its_jittered_base(
    initial: float, cap: float, jitter: tuple[float, float], attempt: int
) -> None:
    b = Backoff(initial, cap, jitter=jitter)
    base = b.base(attempt)
    assert 0 <= base <= cap
    d = b.delay(attempt)
    assert jitter[0] * base * (1 - 1e-9) <= d <= jitter[1] * base * (1 + 1e-9)


@given(delays_s, delays_s, attempts)
def test_the_default_jitter_never_exceeds_the_cap(initial: float, cap: float, attempt: int) -> None:
    b = Backoff(initial, cap)
    assert b.jitter == DEFAULT_JITTER
    assert b.delay(attempt) <= cap * (1 + 1e-9)
    assert b.delay(attempt) >= b.base(attempt) / 2 * (1 - 1e-9)


@given(delays_s, delays_s, st.integers(min_value=0, max_value=200))
def test_the_base_doubles_until_the_cap_then_stays(
    initial: float, cap: float, attempt: int
) -> None:
    b = Backoff(initial, cap)
    now, nxt = b.base(attempt), b.base(attempt + 1)
    assert nxt >= now
    if initial * 2 ** (attempt + 1) <= cap:
        assert nxt == pytest.approx(2 * now)
    if initial * 2**attempt >= cap:
        assert now == cap and nxt == cap


@given(delays_s, delays_s)
def test_the_first_delay_is_the_initial_one_capped(initial: float, cap: float) -> None:
    assert Backoff(initial, cap).base(0) == min(initial, cap)


def test_huge_attempts_do_not_overflow() -> None:
    assert Backoff(0.5, 30.0).base(10**9) == 30.0
    assert Backoff(0.5, 30.0).base(-3) == 0.5


def test_exact_mode_and_the_delay_sequence() -> None:
    b = Backoff(0.5, 3.0, jitter=(1.0, 1.0))
    assert list(itertools.islice(b.delays(), 5)) == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_jitter_is_drawn_in_its_range() -> None:
    seen: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        seen.append((low, high))
        return high

    assert Backoff(1.0, 10.0, jitter=(0.8, 1.2)).delay(2, uniform=uniform) == pytest.approx(4.8)
    assert seen == [(0.8, 1.2)]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(initial_s=-1.0, max_s=1.0),
        dict(initial_s=1.0, max_s=1.0, jitter=(1.0, 0.5)),
        dict(initial_s=1.0, max_s=1.0, jitter=(-0.1, 0.5)),
    ],
)
def test_nonsense_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
