"""What an actor change is, as a partition records and replays it (dispatch/redispatch.py).

**Applied registrations.** Beside its states, each partition keeps, per actor, the
registration it last applied (``\\x00a:<partition>:<actor id>``, in the changelog like the
states): its version, filters and profile — the *old* side of the next change. A record
written before profiles were kept has none (:func:`decode_applied`: None).

**Moves.** A change that owes the stored demands something (:func:`is_move`) is a move
``(actor id, filters before or None, filters after or None, registration version,
profile changed)``; a pass's moves travel in its ``DispatchResume`` records as JSON
(:func:`encode_moves`, :func:`decode_moves`). A record of an older writer holds the first
three elements only: version unknown, no profile change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.core.errors import InputError
from hub.domain.actors import ActorFilters

#: prefix of the per-partition "registration applied" records
APPLIED = b"\x00a:"

#: one move: (actor id, filters before or None, filters after or None, the registration's
#: version or None (a record of an older writer), whether the actor's profile changed)
Move = tuple[str, ActorFilters | None, ActorFilters | None, int | None, bool]


def applied_key(actor_id: str, partition: int) -> bytes:
    # the partition in the key too: the memory store keeps every partition in one dict
    return APPLIED + b"%d:" % partition + actor_id.encode()


def encode_applied(version: int, filters: ActorFilters | None, profile: str | None) -> bytes:
    return json.dumps({"version": version, "profile": profile, "filters": None if filters is None
                       else filters.model_dump(mode="json")}).encode()  # fmt: skip


def decode_applied(raw: bytes | None) -> tuple[int, ActorFilters | None, str | None]:
    """(version, filters, profile) a partition last applied for an actor (-1, None, None:
    none); the profile is None when removed or unknown (module doc)."""
    if raw is None:
        return -1, None, None
    rec = json.loads(raw)
    f = rec["filters"]
    return (int(rec["version"]), None if f is None else ActorFilters.model_validate(f),
            rec.get("profile"))  # fmt: skip


def is_move(old: ActorFilters | None, new: ActorFilters | None, old_profile: str | None,
            new_profile: str | None) -> tuple[bool, bool]:  # fmt: skip
    """(whether a registration owes the stored demands anything, whether it is a profile
    change): its filters changed (added and removed included: None), or its profile did
    while it stays registered — every demand it holds is then copied again, cut to the
    new profile (:func:`hub.domain.decisions.reevaluate`). A profile not recorded (filters
    applied by an older version) counts as unchanged: re-sending every actor after the
    upgrade costs nothing."""
    recut = (old is not None and new is not None and None not in (old_profile, new_profile)
             and old_profile != new_profile)  # fmt: skip
    return old != new or recut, recut


def encode_moves(moves: Sequence[Move]) -> str:
    """The JSON of ``moves`` (:func:`decode_moves`)."""
    return json.dumps([[a, None if o is None else o.model_dump(mode="json"),
                        None if n is None else n.model_dump(mode="json"), v, recut]
                       for a, o, n, v, recut in moves])  # fmt: skip


def decode_moves(raw: str) -> list[Move]:
    """The moves of a ``DispatchResume`` record: a JSON list of [actor id, filters before
    or null, filters after or null, registration version, profile changed] — or of the
    first three only (a record of an older writer: version unknown, no profile change);
    anything else is an :class:`InputError` (the record is dead-lettered)."""
    try:
        moves = json.loads(raw)
        if not isinstance(moves, list) or not all(_move_shape(m) for m in moves):
            raise ValueError("not a list of [actor id, filters before, filters after, "
                             "version, profile changed]")  # fmt: skip
        return [(m[0], None if m[1] is None else ActorFilters.model_validate(m[1]),
                 None if m[2] is None else ActorFilters.model_validate(m[2]),
                 m[3] if len(m) == 5 else None, len(m) == 5 and m[4])
                for m in moves]  # fmt: skip
    except ValueError as exc:  # JSON and pydantic errors are ValueErrors
        raise InputError(f"malformed re-dispatch moves: {exc}", code="bad_resume") from exc


def _move_shape(m: Any) -> bool:
    if not isinstance(m, list) or len(m) not in (3, 5) or not isinstance(m[0], str):
        return False
    return len(m) == 3 or (type(m[3]) is int and type(m[4]) is bool)
