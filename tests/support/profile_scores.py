"""Test material for the per-profile cut of scores and changed fields: what each profile
may receive, read from docs/profiles.md ("Scores and changed fields") — never from the
code under test —, an in-memory dispatcher with one actor per profile and a declarations
port, and every channel's view of a feed record (Kafka bytes, API feed page, webhook body,
DIS file, SOAP push)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from connectors.files.disfile import NS as DIS_NS
from connectors.files.disfile import render_batch
from connectors.interfacenuu.snapshot import NS, q
from connectors.outbound.soap_envelope import SOAP12, envelope
from dispatch.cotation import Scoring
from dispatch.deadlines import Deadlines
from dispatch.processor import Processor
from hub.api.models import FeedPage
from hub.core import topics, xmlsafe
from hub.domain.actors import Actor, ActorFilters
from hub.domain.cotation import Declaration
from hub.domain.matching import TerritoryIndex
from tests.support.memory import MemorySender, MemoryStore

PAGE = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
SENSIBLE = "consultant_sensible"
CUT_PROFILES = ("consultant_simple", "consultant_demande")
PROFILES = (*CUT_PROFILES, SENSIBLE)
ROUEN, METROPOLE = "76540", "200023414"


@cache
def criteria_table() -> dict[str, tuple[str, bool]]:
    """code -> (computed|declared, kept below consultant_sensible), from the page's table."""
    text = PAGE.read_text("utf-8")
    table = text[text.index("<!-- profiles:criteria -->") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (computed|declared) \| [^|]* \| (kept|withheld) \|$",
                      table, re.M)  # fmt: skip
    assert len(rows) == 27, rows  # the Rouen grid: 16 + 11 criteria
    return {code: (source, rule == "kept") for code, source, rule in rows}


def declared_codes() -> list[str]:
    return sorted(c for c, (source, _) in criteria_table().items() if source == "declared")


def allowed_criteria(profile: str) -> frozenset[str]:
    """The criterion codes ``profile`` may receive (the page's table)."""
    return frozenset(c for c, (_, kept) in criteria_table().items()
                     if kept or profile == SENSIBLE)  # fmt: skip


@cache
def changed_roots() -> tuple[tuple[str, ...], ...]:
    text = PAGE.read_text("utf-8")
    block = re.search(r"<!-- profiles:changed-roots -->\n```\n(.*?)\n```", text, re.S)
    assert block is not None
    return tuple(tuple(line.lower().split(".")) for line in block[1].split())


def changed_allowed(path: str, profile: str) -> bool:
    """The page's rule: below consultant_sensible, no path at, below or above a root
    (case-insensitive; ``/`` and list indices read as ``.``)."""
    if profile == SENSIBLE:
        return True
    parts = tuple(p for p in re.split(r"[./\[\]]+", path.lower()) if p and not p.isdigit())
    return not any(parts[: len(r)] == r or r[: len(parts)] == parts for r in changed_roots())


def auteur(code: str) -> str:
    """The declaring actor's id of ``code`` in these tests: a marker searched in bytes."""
    return f"decl-{code.lower().replace('_', '-')}"


def port(declared: Mapping[str, bool]) -> Any:
    """A declarations port answering ``declared`` (code -> valeur) for every demand."""
    found = {c: Declaration(c, v, auteur(c), dt.date(2026, 1, 5))
             for c, v in declared.items()}  # fmt: skip
    return lambda num, epci, cutoff, *_: found if epci == METROPOLE else {}


def dispatcher(codec: Any, geography: Any, scoring: Scoring) -> tuple[Processor, MemorySender]:
    """A processor with one actor per profile on Rouen (ids: the profiles)."""
    actors = [Actor(id=p, name=p, kind="bailleur", version=1, profile=p,  # type: ignore[arg-type]
                    filters=ActorFilters(communes=[ROUEN])) for p in PROFILES]  # fmt: skip
    sender = MemorySender()
    proc = Processor(TerritoryIndex(geography, actors), codec, MemoryStore(), sender,
                     deadlines=Deadlines(scoring=scoring))  # fmt: skip
    return proc, sender


def sent(sender: MemorySender, actor: str) -> list[bytes]:
    return [v for _, v in sender.sent.get(topics.feed_topic(actor), [])]


def json_channels(codec: Any, data: bytes) -> dict[str, tuple[dict[str, Any], bytes]]:
    """channel -> (the record it carries, its raw bytes): Kafka, API feed, webhook."""
    kafka = codec.decode_as(data, "FeedRecord")
    page = FeedPage(records=[{**kafka, "offset": 0}], nextCursor=1, endCursor=1)
    api_raw = page.model_dump_json().encode()
    hook_raw = json.dumps(kafka, ensure_ascii=False, sort_keys=True).encode()
    return {"kafka": (kafka, data), "api": (json.loads(api_raw)["records"][0], api_raw),
            "webhook": (json.loads(hook_raw), hook_raw)}  # fmt: skip


def _flagged(doc: Any) -> list[str]:
    """The dotted paths (under ``demande``) of the elements flagged ``modifie``."""
    out: list[str] = []
    demande = doc.find(q("demande"))
    for el in demande.iter() if demande is not None else ():
        if el.get(f"{{{NS}}}modifie") == "true":
            parts = []
            node = el
            while node is not demande:
                parts.append(node.tag.rsplit("}", 1)[-1])
                node = node.getparent()
            out.append(".".join(reversed(parts)))
    return out


def xml_channels(record: dict[str, Any]) -> dict[str, tuple[bytes, list[str]]]:
    """channel -> (raw bytes, flagged paths): the DIS file and the SOAP push of ``record``."""
    dis = render_batch("acteur-test", 0, [(7, record)])
    (item,) = xmlsafe.parse(dis).findall(f"{{{DIS_NS}}}enregistrement")
    soap = envelope(json.dumps(record, ensure_ascii=False, sort_keys=True).encode(), 7)
    body = xmlsafe.parse(soap).find(f"{{{SOAP12}}}Body/{q('interfaceNuu')}")
    out: dict[str, tuple[bytes, list[str]]] = {}
    for name, raw, doc in (("dis", dis, item.find(q("interfaceNuu"))), ("soap", soap, body)):
        out[name] = (raw, [] if doc is None else _flagged(doc))
    return out


def check_record(codec: Any, profile: str, data: bytes | dict[str, Any],
                 changed: list[str]) -> dict[str, Any]:  # fmt: skip
    """Check one feed record sent to an actor of ``profile`` (its bytes, or as a feed
    reader decoded them) on every channel against the page's rule; ``changed``: the
    ``changedFields`` of the event it tells. Returns it."""
    if isinstance(data, dict):
        data = codec.encode("FeedRecord", {k: v for k, v in data.items() if k[0] != "_"})
    allowed = allowed_criteria(profile)
    withheld = sorted(set(criteria_table()) - allowed)
    record: dict[str, Any] = {}
    for channel, (record, raw) in json_channels(codec, data).items():
        where = (profile, channel, record["kind"], record["reason"])
        assert record["profile"] == profile, where
        for cot in record["cotations"]:
            codes = {c["code"] for c in cot["criteres"]}
            assert codes <= allowed, (*where, "criteria", sorted(codes - allowed))
            if not cot["horsCotation"]:  # nothing hidden in the total either
                assert cot["total"] == sum(c["points"] for c in cot["criteres"]), where
        for code in withheld:  # nor anywhere else in the bytes, nor its declarer
            assert code.encode() not in raw and auteur(code).encode() not in raw, (*where, code)
        want = [p for p in changed if changed_allowed(p, profile)]
        assert record["changedFields"] == want, (*where, "changedFields")
    for channel, (raw, flagged) in xml_channels(record).items():
        where = (profile, channel, record["kind"], record["reason"])
        assert [p for p in flagged if not changed_allowed(p, profile)] == [], where
        for code in withheld:
            assert code.encode() not in raw and auteur(code).encode() not in raw, (*where, code)
    return record
