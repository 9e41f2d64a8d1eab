"""``hub publish`` refuses a demand event holding what XML 1.0 cannot carry (audit finding
5: a control character passed and then blocked every SOAP actor), naming the field, in
one line; what it can carry is accepted. Code points drawn over the whole range, the
expectation being the XML grammar's ``Char`` production written here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.ingress.publishing import check_event
from hub.core.errors import InputError
from tests.support.demandes import new_num_unique
from tests.support.spec_events import spec_event, wished_communes
from tests.unit.test_publish_cli import _hub

CHAR = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
        (0x10000, 0x10FFFF))  # fmt: skip
#: free texts of a snapshot, where any XML character is a valid value
FIELDS = {
    "precision": ("demandeLogement", "precision"),
    "association.nom": ("demandeLogement", "association", "nom"),
    "demandeur.nom": ("demandeLogement", "personnePhysique", "demandeur", "nom"),
}


def xml_char(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CHAR)


def _event(field: str, text: str) -> dict[str, Any]:
    event = spec_event(new_num_unique(), list(wished_communes())[:1])
    target = event["demande"]
    *parents, last = FIELDS[field]
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[last] = text
    return event


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(cp=st.integers(min_value=0, max_value=0x10FFFF), field=st.sampled_from(sorted(FIELDS)))
@example(cp=0x1, field="association.nom")  # the audit's reproduction (repro/ctrl.jsonl)
@example(cp=0xFFFE, field="association.nom")
@example(cp=0xFFFF, field="precision")
@example(cp=0xD800, field="precision")
@example(cp=0x85, field="demandeur.nom")  # C1: an XML character, accepted
def test_a_character_is_accepted_exactly_when_xml_carries_it(cp: int, field: str) -> None:
    text = f"Asso{chr(cp)}ciation"
    event = json.loads(json.dumps(_event(field, text)))  # as a JSON line reads back
    if xml_char(cp):
        check_event(event)
        return
    with pytest.raises(InputError) as caught:
        check_event(event)
    message = caught.value.message
    assert "\n" not in message and text not in message
    if 0xD800 <= cp <= 0xDFFF:  # no UTF-8 for it: the schema's encoding refuses it first
        assert message.endswith(f".{FIELDS[field][-1]}: string is not encodable as UTF-8")
        return
    assert caught.value.code == "invalid_character"
    path = ".".join(("demande", *FIELDS[field]))
    assert message == (f"{path}: character U+{cp:04X} is not allowed "
                       "(XML 1.0 cannot carry it)")  # fmt: skip


def test_hub_publish_refuses_the_audit_line_in_one_line_naming_the_field(
        tmp_path: Path) -> None:  # fmt: skip
    line = ('{"numUnique": "076112800000110691", "operation": "CRE", "demande": '
            '{"demandeLogement": {"numUnique": "076112800000110691", "association": '
            '{"nom": "Asso\\u0001ciation \\ufffe <&> \\ud83d\\ude00"}, "logementRecherche": '
            '{"listeLocalisationSouhaite": [{"commune": "76540"}]}}}}')  # repro/ctrl.jsonl
    path = tmp_path / "ctrl.jsonl"
    path.write_text(line + "\n")
    res = subprocess.run([*_hub(), "publish", "--dry-run", str(path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.splitlines() == [
        f"{path}:1: demande.demandeLogement.association.nom: character U+0001 is not "
        "allowed (XML 1.0 cannot carry it)",
        "Error: 1 invalid event(s), nothing published (use --skip-invalid to publish the rest)",
    ]
