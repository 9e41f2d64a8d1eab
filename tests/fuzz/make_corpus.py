"""Write the seed corpus of tests/fuzz/corpus/ (run once; the files are kept in the repo).

``python -m tests.fuzz.make_corpus``: valid messages of every Avro schema, a few hostile
ones, the InterfaceNuu samples plus rendered generated demands, and actor entries.
Findings of later runs are added next to them (``crash-*.bin``) once fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.fuzz.engine import zigzag
from tests.fuzz.targets import CORPUS

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    from connectors.interfacenuu.mapping import render_demande_xml
    from dispatch.feed import feed_record
    from hub.dev.generate import generate_demandes, generate_modifications
    from hub.domain.actors import Actor
    from hub.domain.geo import get_geography
    from hub.domain.state import DemandeState
    from schemas import get_codec

    codec, geo = get_codec(), get_geography()
    events = list(generate_demandes(3, 5, geography=geo, departements=["76"]))
    events += generate_modifications(events, 6, geography=geo, modification_rate=1,
                                     radiation_rate=1)  # fmt: skip
    seeds = yaml.safe_load((REPO / "hub/data/seed_rouen.yaml").read_text("utf-8"))["actors"]
    actor = Actor.model_validate(seeds[0])
    state = DemandeState(events[0]["numUnique"], 1, True, frozenset({actor.id}),
                         events[0]["eventId"], "CRE", 1, 0, 1, events[0]["demande"])  # fmt: skip
    avro = [codec.encode("DemandeEvent", e) for e in events[:4]]
    avro.append(codec.encode("ActorRegistration", actor.to_avro()))
    avro.append(codec.encode("DispatchControl", {"controlId": "c", "issuedAt": 1,
                                                 "actor": actor.to_avro()}))  # fmt: skip
    avro.append(codec.encode("DemandeState", state.to_avro()))
    avro.append(codec.encode("FeedRecord", feed_record(
        kind="DEMANDE", state=state, event_id="e", operation="CRE", occurred_at=1,
        changed_fields=["a"], profile="consultant_demande", reason=None, now_ms=2)))  # fmt: skip
    avro.append(codec.encode("DeadLetter", {"reason": "r", "message": "m", "sourceTopic": "t",
                                            "sourcePartition": 0, "sourceOffset": 1, "key": b"k",
                                            "payload": b"p", "failedAt": 1, "attempts": 1,
                                            "history": []}))  # fmt: skip
    # hostile: a FeedRecord header then a 50-million-item count where a string/array starts
    avro.append(avro[7][:10] + zigzag(50_000_000) + b"\x00" * 3)
    xml = [p.read_bytes() for p in sorted((REPO / "tests/data").glob("interfacenuu*/*.xml"))]
    xml += [render_demande_xml(e) for e in events[:2]]
    actors = [json.dumps(a).encode() for a in seeds[:4]]
    actors.append(json.dumps({**seeds[0], "filters": {"communes": ["7654O"]}}).encode())
    actors.append(json.dumps({**seeds[0], "version": 3}).encode())
    for name, items in (("avro", avro), ("xml", xml), ("actor", actors)):
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(items):
            (folder / f"seed-{i:02d}.bin").write_bytes(data)


if __name__ == "__main__":
    main()
