"""dispatch.runtime.contiguity: each input partition's records handed out in order, no hole."""

from __future__ import annotations

import logging

import pytest

from dispatch.runtime.contiguity import Contiguity, Verdict, lowest_offsets

TP = ("hub.demandes", 3)


def test_first_record_after_assignment_is_admitted_then_order_is_kept() -> None:
    c = Contiguity()
    assert c.check(TP, 67) is Verdict.ADMIT
    assert [c.check(TP, o) for o in (68, 69)] == [Verdict.ADMIT] * 2
    assert c.expected(TP) == 70


def test_stale_record_after_a_seek_back_rewinds_instead_of_skipping_the_hole() -> None:
    """The lost-record case: 67..92 handed out before faust's seek to the committed 67,
    then a stale 94 (93 never reached the agent): it must not pass, the partition is
    sought back to 67 and read again in order."""
    c = Contiguity()
    for o in range(67, 93):
        assert c.check(TP, o) is Verdict.ADMIT
    c.reset(TP, 67)  # perform_seek: back to the committed offset
    assert c.check(TP, 94) is Verdict.REWIND
    assert c.expected(TP) == 67
    # the refetch, in order: copies of what was handed out, then 93 itself
    assert all(c.check(TP, o) is Verdict.ADMIT for o in range(67, 95))


def test_copies_below_the_expected_offset_are_dropped() -> None:
    c = Contiguity()
    c.reset(TP, 10)
    assert c.check(TP, 10) is Verdict.ADMIT
    assert c.check(TP, 9) is Verdict.DROP
    assert c.check(TP, 10) is Verdict.DROP
    assert c.check(TP, 11) is Verdict.ADMIT


def test_a_hole_still_there_after_the_rewind_is_a_real_one() -> None:
    """Offsets absent from the log (compaction, transaction markers) stop nothing."""
    c = Contiguity()
    c.reset(TP, 5)
    assert c.check(TP, 8) is Verdict.REWIND
    # fetched again after the seek: 5..7 do not exist
    assert c.check(TP, 8) is Verdict.ADMIT_PAST_HOLE
    assert c.expected(TP) == 9
    assert c.check(TP, 12) is Verdict.REWIND  # a new hole is checked again


def test_reassigned_or_unknown_offsets_admit_the_next_record() -> None:
    c = Contiguity()
    c.reset(TP, 100)
    c.forget(TP)
    assert c.check(TP, 400) is Verdict.ADMIT
    c.reset(TP, None)
    assert c.check(TP, 7) is Verdict.ADMIT
    other = ("hub.demandes", 0)
    c.reset(other, 3)
    assert c.check(other, 3) is Verdict.ADMIT and c.expected(TP) == 8


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.tp = _TP(topic, partition)
        self.offset = offset


class _TP(tuple):  # type: ignore[type-arg]
    def __new__(cls, topic: str, partition: int) -> _TP:
        return super().__new__(cls, (topic, partition))

    @property
    def topic(self) -> str:
        return str(self[0])


class _Event:
    def __init__(self, message: _Msg) -> None:
        self.message = message


def test_lowest_queued_offset_of_each_input_partition() -> None:
    """What faust's queue clear is about to drop: events or messages, inputs only."""
    queued = [
        _Event(_Msg("hub.demandes", 0, 202)),
        _Msg("hub.demandes", 0, 201),
        _Event(_Msg("hub.demandes", 1, 7)),
        _Msg("hub.feed.x", 0, 1),
        object(),
        None,
    ]
    got = lowest_offsets(queued, {"hub.demandes", "hub.evenements"})
    assert got == {("hub.demandes", 0): 201, ("hub.demandes", 1): 7}


def test_holes_and_rewinds_are_logged_once_a_minute_per_partition_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A transactional upstream makes one hole per transaction and partition: without a
    limit, two log lines each (thousands a minute). One line per partition and kind per
    minute, the lines held back counted in the next."""
    now = [0.0]
    c = Contiguity(clock=lambda: now[0])
    other = ("hub.demandes", 0)
    with caplog.at_level(logging.INFO, logger="dispatch.runtime.contiguity"):
        for tp in (TP, other):
            c.reset(tp, 0)
        for i in range(100):  # records at 0, 2, 4, ...: a marker after each
            for tp in (TP, other):
                if i:
                    assert c.check(tp, 2 * i) is Verdict.REWIND
                    assert c.check(tp, 2 * i) is Verdict.ADMIT_PAST_HOLE
                else:
                    assert c.check(tp, 0) is Verdict.ADMIT
            now[0] += 1.0  # 100 s in all
    holes = [r.getMessage() for r in caplog.records if "absent from the log" in r.getMessage()]
    rewinds = [r.getMessage() for r in caplog.records if "seeking back" in r.getMessage()]
    assert len(holes) == len(rewinds) == 4  # two partitions, at 1 s and at 61 s
    assert "59 more since the last line" in holes[-1]
