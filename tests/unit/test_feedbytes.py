"""dispatch.feedbytes: the spliced per-profile bytes equal a full encode, byte for byte."""

from __future__ import annotations

import copy

import pytest

from dispatch.feed import feed_record
from dispatch.feedbytes import FeedBytes
from hub.dev.generate import generate_demandes
from hub.domain.geo import get_geography
from hub.domain.profiles import PROFILES
from hub.domain.state import DemandeState
from schemas import get_codec


def _state(event: dict, demande: dict) -> DemandeState:
    return DemandeState(
        event["numUnique"],
        3,
        True,
        frozenset({"a"}),
        event["eventId"],
        "MOD",
        event["occurredAt"],
        demande=demande,
    )


@pytest.mark.parametrize("sensitive", [False, True])
def test_every_profile_gets_the_bytes_of_a_full_encode(sensitive: bool) -> None:
    codec = get_codec()
    reused = 0
    for event in generate_demandes(30, 11, geography=get_geography()):
        demande = copy.deepcopy(event["demande"])
        if sensitive:  # a sensitive field: the cut differs, so must the bytes
            demande["demandeLogement"]["principauxMotifDemande"] = {"compAutreMotif": "x"}
        fb = FeedBytes(codec)
        assert fb.splice
        seen: dict[bytes, str] = {}
        for kind, reason in (("DEMANDE", None), ("RETRAIT", "hors_territoire")):
            for profile in PROFILES:
                rec = feed_record(
                    kind=kind,
                    state=_state(event, demande),
                    event_id=event["eventId"],
                    operation="MOD",
                    occurred_at=event["occurredAt"],
                    changed_fields=["x.y"],
                    profile=profile,
                    reason=reason,
                    now_ms=1_700_000_000_000,
                )
                data = fb.encode(rec)
                assert data == codec.encode("FeedRecord", rec)
                assert codec.decode_as(data, "FeedRecord")["profile"] == profile
                seen[data] = profile
        assert len(seen) == 6  # six distinct records, never one profile's bytes for another
        reused += 6 - len(fb._done)  # records written by splicing, not by a full encode
    assert reused > 0  # the splice path was taken, not only full encodes


def test_cut_profiles_are_spliced_from_the_snapshot_bytes_as_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Only a cut of a sensitive field needs a full encode (once per demand: the other
    cut profile differs from it by the index only): the whole snapshot is copied from the
    input's bytes, and a cut document index is spliced into that copy."""
    from dispatch.snapshotbytes import SnapshotBytes
    from hub.domain.profiles import SENSITIVE_PATHS, _present

    codec = get_codec()
    snaps = SnapshotBytes(codec)
    full: list[str] = []
    encode = codec.encode
    monkeypatch.setattr(codec, "encode", lambda n, r: (full.append(n), encode(n, r))[1])
    sensitive_events = pieces_cut = 0
    for event in generate_demandes(60, 5, geography=get_geography()):
        _, read, raw = snaps.event_span(encode("DemandeEvent", event))
        state = _state(read, read["demande"])
        fb = FeedBytes(codec, snaps)
        sensitive = any(_present(read["demande"], p) for p in SENSITIVE_PATHS)
        before = len(full)
        for profile in PROFILES:
            rec = feed_record(kind="DEMANDE", state=state, event_id=read["eventId"],
                              operation="MOD", occurred_at=read["occurredAt"],
                              changed_fields=[], profile=profile, reason=None, now_ms=1)
            assert fb.encode(rec, raw, read["demande"]) == encode("FeedRecord", rec)
            pieces_cut += rec["demande"] is not read["demande"] and not sensitive
        assert len(full) - before == int(sensitive)
        sensitive_events += sensitive
    assert full.count("FeedRecord") == sensitive_events < 60
    assert pieces_cut > 20  # the splice of a cut index was exercised
