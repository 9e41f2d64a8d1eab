"""Choosing letters to replay and the replay header, without a broker."""

from __future__ import annotations

import json

import pytest

from hub.core.errors import InputError, NotFoundError
from hub.services.dlq import Letter, replay_header, select


def letter(offset: int, reason: str, key: str, source_offset: int, **kw: object) -> Letter:
    body = {
        "reason": reason,
        "message": f"m{offset}",
        "sourceTopic": "hub.demandes",
        "sourcePartition": 1,
        "sourceOffset": source_offset,
        "key": key.encode(),
        "payload": b"x",
        "failedAt": 1000 + offset,
        "attempts": 1,
        "history": [],
    }
    return Letter(0, offset, body, **kw)  # type: ignore[arg-type]


LETTERS = [
    letter(0, "bad_operation", "A", 10),
    letter(1, "internal_error", "B", 11, replayed={"topic": "hub.demandes"}),
    letter(2, "internal_error", "A", 12),
    letter(3, "internal_error", "A", 12, duplicate_of="0:2"),
]


def test_select_by_ref_reason_key_all() -> None:
    assert [x.ref for x in select(LETTERS, ref="0:0")] == ["0:0"]
    assert [x.ref for x in select(LETTERS, reason="internal_error")] == ["0:2"]
    assert [x.ref for x in select(LETTERS, reason="internal_error", again=True)] == ["0:1", "0:2"]
    assert [x.ref for x in select(LETTERS, key="A")] == ["0:0", "0:2"]  # in DLQ order
    assert [x.ref for x in select(LETTERS, every=True)] == ["0:0", "0:2"]
    with pytest.raises(InputError, match="already replayed"):
        select(LETTERS, ref="0:1")
    with pytest.raises(InputError, match="duplicates 0:2"):
        select(LETTERS, ref="0:3")
    with pytest.raises(NotFoundError):
        select(LETTERS, ref="0:9")
    with pytest.raises(InputError, match="say which"):
        select(LETTERS)


def test_replay_header_carries_every_failure_so_far() -> None:
    earlier = {"reason": "undecodable", "message": "old", "failedAt": 5}
    x = letter(7, "bad_operation", "A", 10)
    x.body.update(attempts=2, history=[earlier])
    info = json.loads(replay_header(x))
    assert info["attempts"] == 2 and info["from"] == "hub.dlq:0:7"
    assert info["history"] == [
        earlier,
        {"reason": "bad_operation", "message": "m7", "failedAt": 1007},
    ]


def test_letters_that_can_never_be_replayed_are_not_pending() -> None:
    from hub.services.dlq import replayable

    tomb = letter(4, "tombstone", "A", 13)
    tomb.body.update(payload=None, payloadSize=None)
    foreign = letter(5, "internal_error", "A", 14)
    foreign.body["sourceTopic"] = "hub.actors"
    unreadable = Letter(0, 6, {"key": b"k"}, unreadable="message is 5 bytes")
    dropped = letter(7, "oversize", "A", 15)  # too large to keep: replayed from its source
    dropped.body.update(payload=None, payloadSize=2_000_000)
    chosen = [*LETTERS[:1], tomb, foreign, unreadable, dropped]
    ready, never = replayable(chosen)
    assert [x.ref for x in ready] == ["0:0", "0:7"]
    assert [x.ref for x in never] == ["0:4", "0:5", "0:6"]
    assert "tombstone" in (tomb.unreplayable or "") and "hub.actors" in (foreign.unreplayable or "")
    assert unreadable.reason == "unreadable" and not unreadable.pending
    assert [x.pending for x in LETTERS] == [True, False, True, False]


def test_a_ledger_entry_marks_only_the_letter_it_names() -> None:
    from hub.services.dlq import identity, marks

    x = letter(0, "bad_operation", "A", 10)
    named = {"topic": "hub.demandes", "partition": 0, "offset": 1, "letter": identity(x)}
    assert marks(named, x)
    later = letter(0, "bad_operation", "A", 10)
    later.body["failedAt"] += 1  # another letter at the same position (hub.dlq recreated)
    assert not marks(named, later)
    # entries written before they named their letter: not older than its failure
    legacy = {"topic": "hub.demandes", "partition": 0, "offset": 1, "replayedAt": 1000}
    assert marks(legacy, x) and not marks({**legacy, "replayedAt": 999}, x)


def test_a_position_with_a_reason_or_a_key_replays_only_a_letter_that_has_them() -> None:
    """Audit S, S-F9: ``hub dlq replay 0:0 --reason R`` replayed letter 0:0 whatever its
    reason (the filters given with a position were ignored)."""
    assert [x.ref for x in select(LETTERS, ref="0:0", reason="bad_operation", key="A")] == ["0:0"]
    with pytest.raises(InputError, match="0:0 is bad_operation, not internal_error"):
        select(LETTERS, ref="0:0", reason="internal_error")
    with pytest.raises(InputError, match="not keyed 'B'"):
        select(LETTERS, ref="0:0", key="B")


@pytest.mark.parametrize("reason", ["missing_key", "key_mismatch"])
def test_a_letter_whose_key_was_refused_is_never_pending(reason: str) -> None:
    """Audit S, S-F10: its replay sends the same key and is refused again (a new pending
    letter each time, ``dlq_pending`` never back to 0): never replayable, said why."""
    x = letter(5, reason, "A", 20)
    assert x.pending is False and x.unreplayable is not None
    assert "publish it again keyed by its numéro unique" in x.unreplayable
    assert letter(6, "unknown_commune", "A", 21).pending  # a refusal a fix can cure
