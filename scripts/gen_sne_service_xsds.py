#!/usr/bin/env python3
"""Generate the XSDs of the SNE web-service business documents other than the demand.

Inputs are the InterfaceNuu 02.00 outlines in ``schemas/sne/`` (gestion partagée event,
event type, multi-criteria search); outputs, committed, in ``schemas/xsd/``
(``--check`` exits 1 when they are stale):

* ``InterfaceNuuGPEvenement_v0200.xsd`` — list/add/modify/delete GP events,
* ``InterfaceNuuGPTypeEvenement_v0200.xsd`` — national/territorial event types,
* ``InterfaceNuuRecherche_v0200.xsd`` — multi-criteria search and numéro lists.

The rendering is the one of ``scripts/gen_sne_schemas.py`` (same namespace, qualified
elements, the ``modifie`` flag on every element). Those outlines name simple types without
their facets (``t_code3``, ``t_string100`` ...): :data:`SIMPLE` gives them, chosen from
the type names and the demand outline (``t_numUnique`` = 18 chars, ``t_numGuichet`` = 5).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_sne_schemas import ROOT, parse_outline, render_xsd

DOCUMENTS = (
    "InterfaceNuuGPEvenement_v0200",
    "InterfaceNuuGPTypeEvenement_v0200",
    "InterfaceNuuRecherche_v0200",
)
SIMPLE = {
    "t_version": r"xs:string(pattern=[0-9]{2}\.[0-9]{2})",
    "t_code1": "xs:string(maxLength=1)",
    "t_code3": "xs:string(maxLength=3)",
    "t_code4": "xs:string(maxLength=4)",
    "t_code5": "xs:string(maxLength=5,pattern=[a-zA-Z0-9]{1,5})",
    "t_code10": "xs:string(maxLength=10)",
    "t_numGuichet": "xs:string(maxLength=5)",
    "t_numUnique": "xs:string(maxLength=18)",
    "t_positiveLong": "xs:long(minInclusive=1)",
    **{f"t_string{n}": f"xs:string(maxLength={n})" for n in (6, 10, 36, 100, 255, 500, 512)},
}
_REF = re.compile(r"(?<=: )(t_\w+)(?= )")


def expand(text: str) -> str:
    """The outline with every bare simple type replaced by its facets (parser syntax).

    ``fixed=02.00`` is dropped: the service accepts 02.00 and 02.01 envelopes alike."""
    text = text.replace("fixed=02.00", "fixed=None")
    return _REF.sub(lambda m: f"{m[1]}={SIMPLE[m[1]]}" if m[1] in SIMPLE else m[1], text)


def render(name: str) -> str:
    types, groups = parse_outline(expand((ROOT / "schemas/sne" / f"{name}.txt").read_text("utf-8")))
    xsd = render_xsd(types, groups)
    return xsd.replace("scripts/gen_sne_schemas.py", "scripts/gen_sne_service_xsds.py", 1).replace(
        'version="02.01"', 'version="02.00"', 1
    )


def main(argv: list[str]) -> int:
    outputs = {ROOT / "schemas/xsd" / f"{n}.xsd": render(n) for n in DOCUMENTS}
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text("utf-8") != text]
    if "--check" in argv:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run scripts/gen_sne_service_xsds.py)")
        return 1 if stale else 0
    for p in stale:
        p.write_text(outputs[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
