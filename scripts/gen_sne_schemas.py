#!/usr/bin/env python3
"""Generate the SNE snapshot schemas from the InterfaceNuu outlines in ``schemas/sne/``.

Outputs (both committed; ``--check`` exits 1 when they are stale):

* ``schemas/avro/fr.passerelle.sne.Demande.avsc`` — record ``Demande`` (type ``t_demande``).
* ``schemas/xsd/InterfaceNuu_v0201.xsd`` — validates InterfaceNuu 02.01 demand documents.

Avro mapping (others code against these names): a complex type becomes a record named
after it (``t_demandeLogement`` → ``DemandeLogement``, ``doublon_adresse`` →
``DoublonAdresse``), each child element a field of the same name, every field
``["null", T]`` with default null. Coded elements (``@code`` only) are plain strings;
xs:date/dateTime stay lexical strings; ``listeX`` wrappers with one repeated child become
arrays of the child; other repeated elements become arrays; choices and group refs are
inlined as optional fields; attributes other than a lone ``code`` become fields. An element
whose simple content carries attributes (outline ``attributes: @…``, e.g.
``anomalie/complement/@nom``) becomes a record named after its simple type: ``valeur`` (the
text, ``xmlText``) and the attributes; when they are all optional the value is the union
``["string", record]``, so that data written when the element was a plain string still
decodes (a bare string: no attribute). Extra field properties tell the XML mapping what the
Avro type cannot: ``xmlCode`` (value is the ``@code`` of an empty element), ``xmlAttr`` (an
attribute), ``xmlText`` (the text of a simple-content record), ``xmlItem`` (name of the
repeated child inside a wrapper), ``xmlRequired`` (``[1..n]`` where it appears: a coded one
without its code is refused by name). ``doc`` keeps the XSD type and cardinality. None of
them is part of the Parsing Canonical Form: they never change a fingerprint.

XSD: the outline's cardinalities, facets and ``use=`` are rendered as they are, never
stricter: ``(choice) [0..1]`` is ``<xs:choice minOccurs="0">`` (a bare ``(choice)``, as
older outlines wrote it, is ``[1..1]``), ``use=None`` leaves the attribute optional (the
XSD default), an element with ``attributes:`` gets a simple-content type declaring them.

Hub extensions (:data:`HUB_EXTENSIONS`): fields the hub appends to the ``Demande`` record
for data InterfaceNuu has no element for (the document index ``piecesJustificatives``).
Each is optional with default null (records written before it still decode) and carries
``hubExtension: true``: the XML mapping neither reads nor writes it, so InterfaceNuu
documents keep validating against the 02.01 XSD.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
OUTLINES = [ROOT / "schemas/sne/InterfaceNuu_v0201.txt", ROOT / "schemas/sne/Doublon_V0200.txt"]
AVSC = ROOT / "schemas/avro/fr.passerelle.sne.Demande.avsc"
XSD = ROOT / "schemas/xsd/InterfaceNuu_v0201.xsd"
NS = "fr.passerelle.sne"
TNS = "http://nuu.application.i2/"
AVRO_OF = {"xs:int": "int", "xs:boolean": "boolean"}  # everything else is a lexical string

#: Fields appended to the ``Demande`` record that the SNE interface does not carry (see the
#: module doc). The document index: one item per piece justificative, category and type as
#: codes of the versioned table :mod:`hub.domain.pieces`, ``reference`` locating the
#: document itself.
HUB_EXTENSIONS: list[dict[str, Any]] = [
    {
        "name": "piecesJustificatives",
        "type": [
            "null",
            {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "PieceJustificative",
                    "namespace": "fr.passerelle.hub",
                    "doc": "One supporting document of a demand (hub extension, not InterfaceNuu).",
                    "fields": [
                        {"name": "categorie", "type": "string",
                         "doc": "category code, table hub.domain.pieces (maxLength=10)"},
                        {"name": "type", "type": "string",
                         "doc": "document type code, table hub.domain.pieces (maxLength=10)"},
                        {"name": "dateDepot", "type": "string",
                         "doc": "deposit date, xs:date lexical (maxLength=10)"},
                        {"name": "reference", "type": ["null", "string"], "default": None,
                         "doc": "URI of the document itself; cut for consultant_simple "
                                "(maxLength=500)"},
                    ],
                },
            },
        ],
        "default": None,
        "hubExtension": True,
        "doc": "Hub extension: document index (pièces justificatives); cut per access "
               "profile by hub.domain.profiles. Not part of InterfaceNuu.",
    },
]


@dataclass
class Simple:
    name: str | None  # named simple type (t_nom), None for a bare xs:* type
    base: str
    facets: list[tuple[str, str]]


@dataclass
class Attr:
    name: str
    type: Simple
    use: str


@dataclass
class Elem:
    name: str
    type: str | Simple  # str: a complex type name
    min: int
    max: int | None  # None: unbounded
    attrs: list[Attr] = field(default_factory=list)  # simple content with attributes


@dataclass
class Choice:
    """An ``(choice) [min..max]`` line and its branches (Elem or ("group", name))."""

    items: list[Any]
    min: int = 1
    max: int = 1


@dataclass
class Complex:
    name: str
    items: list[Any] = field(default_factory=list)  # Elem | ("group", name) | Choice
    attrs: list[Attr] = field(default_factory=list)


ELEM = re.compile(r"^( *)- (\w+) : (.+?) \[(\d+)\.\.(\w+)\](?:\s+attributes: (.+))?$")
CHOICE = re.compile(r"^ *\(choice\)(?: \[(\d+)\.\.(\d+)\])?$")
ONE_ATTR = re.compile(r"@(\w+) : (\S+) use=(\w+)(?: fixed=\w+)?")
GROUP = re.compile(r"^( *)- group ref tns:(\w+)$")
ATTR = re.compile(r"^ *@(\w+) : (.+) use=(\w+) fixed=\w+$")
FACET_SPLIT = re.compile(r",(?=\w+=)")  # patterns contain commas ({0,10}): split before key=


def parse_simple(spec: str) -> Simple:
    name, _, rest = spec.partition("=") if "=" in spec.split("(")[0] else (None, "", spec)
    base, _, facets = rest.partition("(")
    pairs = [f.split("=", 1) for f in FACET_SPLIT.split(facets[:-1]) if f]
    return Simple(name, base, [(k, v) for k, v in pairs])


def parse_outline(text: str) -> tuple[dict[str, Complex], dict[str, Complex]]:
    """Complex types (the anonymous root type is keyed by the element name) and groups."""
    types: dict[str, Complex] = {}
    groups: dict[str, Complex] = {}
    cur = Complex("")
    choice: Choice | None = None
    for line in text.splitlines():
        head = line.split()
        if head and head[0] in ("TYPE", "GROUP", "ELEMENT"):
            cur, choice = Complex(head[1]), None
            if head[0] != "ELEMENT" or head[2] == "None":  # a typed global element adds nothing
                (groups if head[0] == "GROUP" else types)[head[1]] = cur
        elif m := CHOICE.match(line):  # no cardinality (older outlines): exactly one
            choice = Choice([], int(m[1] or 1), int(m[2] or 1))
            cur.items.append(choice)
        elif m := ELEM.match(line):
            spec = m[3].removeprefix("tns:")
            typ = parse_simple(spec) if "=" in spec or spec.startswith("xs:") else spec
            e = Elem(m[2], typ, int(m[4]), None if m[5] == "unbounded" else int(m[5]))
            if m[6]:
                e.attrs = [Attr(a[1], parse_simple(a[2]), a[3]) for a in ONE_ATTR.finditer(m[6])]
                if not e.attrs or not isinstance(typ, Simple):
                    raise SystemExit(f"unparsed attributes: {line!r}")
            (choice.items if choice is not None and len(m[1]) > 2 else cur.items).append(e)
        elif m := GROUP.match(line):
            branch = ("group", m[2])
            (choice.items if choice is not None and len(m[1]) > 2 else cur.items).append(branch)
        elif m := ATTR.match(line):
            cur.attrs.append(Attr(m[1], parse_simple(m[2]), m[3]))
        elif line.strip():
            raise SystemExit(f"unparsed outline line: {line!r}")
    return types, groups


class AvroGen:
    """Walks the outline depth-first, defining each record at its first use (Avro rule)."""

    def __init__(self, types: dict[str, Complex], groups: dict[str, Complex]) -> None:
        self.types, self.groups, self.defined = types, groups, set[str]()

    def coded(self, t: str) -> bool:
        c = self.types[t]
        return not c.items and [a.name for a in c.attrs] == ["code"]

    def wrapped(self, e: Elem) -> Elem | None:
        """The repeated child when ``e`` is a ``listeX`` wrapper, else None."""
        c = self.types.get(e.type) if isinstance(e.type, str) else None
        if c and e.name.startswith("liste") and len(c.items) == 1 and not c.attrs:
            only = c.items[0]
            if isinstance(only, Elem) and only.max != 1:
                return only
        return None

    def flat(self, items: list[Any]) -> list[Elem]:
        out: list[Elem] = []
        for it in items:
            if isinstance(it, Elem):
                out.append(it)
            elif isinstance(it, Choice):
                out += self.flat(it.items)
            else:
                out += self.flat(self.groups[it[1]].items)
        return out

    def record(self, t: str) -> Any:
        name = "".join(p[:1].upper() + p[1:] for p in t.removeprefix("t_").split("_"))
        if name in self.defined:
            return f"{NS}.{name}"
        self.defined.add(name)
        c = self.types[t]
        fields = [self.field(e) for e in self.flat(c.items)]
        fields += [
            {
                "name": a.name,
                "type": ["null", "string"],
                "default": None,
                "xmlAttr": True,
                "doc": f"@{a.name}: {fmt(a.type)} use={a.use}",
            }
            for a in c.attrs
        ]
        names = [f["name"] for f in fields]
        if len(set(names)) != len(names):
            raise SystemExit(f"field name clash in {t}: {names}")
        return {
            "type": "record",
            "name": name,
            "namespace": NS,
            "doc": f"SNE type {t}.",
            "fields": fields,
        }

    def field(self, e: Elem) -> dict[str, Any]:
        f: dict[str, Any] = {"name": e.name}
        t: Any
        leaf, card = (self.wrapped(e) or e), f"[{e.min}..{'unbounded' if e.max is None else e.max}]"
        if isinstance(leaf.type, Simple) and leaf.attrs:
            t = self.text_record(leaf.type, leaf.attrs)
        elif isinstance(leaf.type, Simple):
            t = AVRO_OF.get(leaf.type.base, "string")
        elif self.coded(leaf.type):
            t, f["xmlCode"] = "string", True
        else:
            t = self.record(leaf.type)
        if leaf is not e:
            t, f["xmlItem"] = {"type": "array", "items": t}, leaf.name
        elif e.max != 1:
            t = {"type": "array", "items": t}
        desc = fmt(e.type) if isinstance(e.type, Simple) else e.type
        f.update(type=["null", t], default=None, doc=f"{desc} {card}")
        if e.min > 0 or leaf.min > 0:
            f["xmlRequired"] = True  # absent/empty value refused by name (coded elements)
        return f

    def text_record(self, s: Simple, attrs: list[Attr]) -> Any:
        """Simple content with attributes: a record of the text (``valeur``, ``xmlText``)
        and the attributes; when every attribute is optional the value may also be a bare
        string (no attribute), which is how records written before the attributes were
        modelled decode (Avro resolves a writer string to the reader union's string)."""
        name = "".join(p[:1].upper() + p[1:] for p in (s.name or "t_valeur")[2:].split("_"))
        if name in self.defined:
            rec: Any = f"{NS}.{name}"
        else:
            self.defined.add(name)
            fields: list[dict[str, Any]] = [
                {"name": "valeur", "type": "string", "xmlText": True,
                 "doc": f"text content: {fmt(s)}"}
            ]
            fields += [
                {"name": a.name, "type": ["null", "string"], "default": None, "xmlAttr": True,
                 "doc": f"@{a.name}: {fmt(a.type)} use={a.use}"}
                for a in attrs
            ]
            rec = {"type": "record", "name": name, "namespace": NS,
                   "doc": f"SNE simple type {s.name} with its attributes.", "fields": fields}
        return ["string", rec] if all(a.use != "required" for a in attrs) else rec


def fmt(s: Simple) -> str:
    facets = ",".join(f"{k}={v}" for k, v in s.facets)
    return f"{s.name + '=' if s.name else ''}{s.base}{f'({facets})' if facets else ''}"


def render_xsd(types: dict[str, Complex], groups: dict[str, Complex]) -> str:
    """The XSD: named simple types keep the outline's facets; every element may carry the
    global ``tns:modifie`` flag (and, tolerated, an unqualified ``modifie``), so
    simple-typed leaves use a ``m_<type>`` complex type extending their simple type."""
    simple: dict[str, Simple] = {}

    def sref(s: Simple) -> str:
        if s.base == "xs:anySimpleType":  # XSD 1.0 forbids restricting it; any lexical value
            s = Simple(s.name, "xs:string", s.facets)
        if s.name is None:
            return s.base
        if simple.setdefault(s.name, s) != s:
            raise SystemExit(f"simple type {s.name} declared twice with different facets")
        return f"tns:{s.name}"

    def attribute(a: Attr) -> str:
        use = f' use="{a.use}"' if a.use != "None" else ""  # None: the XSD default, optional
        return f'<xs:attribute name="{a.name}" type="{sref(a.type)}"{use}/>'

    leaves: dict[str, tuple[str, str]] = {}

    def leaf(s: Simple, attrs: list[Attr]) -> str:
        base = sref(s)
        name = "m_" + base.replace(":", "_").removeprefix("tns_")
        name += "".join(f"_{a.name}" for a in attrs)
        decl = (base, "".join(attribute(a) for a in attrs))  # declares the attribute types now
        if leaves.setdefault(name, decl) != decl:
            raise SystemExit(f"leaf type {name} declared twice with different attributes")
        return f"tns:{name}"

    def particles(items: list[Any], pad: str) -> list[str]:
        out: list[str] = []
        for it in items:
            if isinstance(it, Elem):
                occ = "" if it.min == 1 else f' minOccurs="{it.min}"'
                occ += "" if it.max == 1 else f' maxOccurs="{it.max or "unbounded"}"'
                t = f"tns:{it.type}" if isinstance(it.type, str) else leaf(it.type, it.attrs)
                out.append(f'{pad}<xs:element name="{it.name}" type="{t}"{occ}/>')
            elif isinstance(it, Choice):
                occ = "" if it.min == 1 else f' minOccurs="{it.min}"'
                occ += "" if it.max == 1 else f' maxOccurs="{it.max}"'
                out += [f"{pad}<xs:choice{occ}>", *particles(it.items, pad + "  "),
                        f"{pad}</xs:choice>"]
            else:
                out.append(f'{pad}<xs:group ref="tns:{it[1]}"/>')
        return out

    def body(c: Complex, pad: str, flag: bool = True) -> list[str]:
        out = [f"{pad}<xs:sequence>", *particles(c.items, pad + "  "), f"{pad}</xs:sequence>"]
        out = out if c.items else []
        out += [pad + attribute(a) for a in c.attrs]
        return out + ([f'{pad}<xs:attributeGroup ref="tns:flags"/>'] if flag else [])

    root = types["interfaceNuu"]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Generated by scripts/gen_sne_schemas.py from schemas/sne/: do not edit. -->",
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="{TNS}"',
        f'           targetNamespace="{TNS}" elementFormDefault="qualified" version="02.01">',
        '  <xs:attribute name="modifie" type="xs:boolean"/>',
        "  <!-- the change flag: qualified as specified; unqualified tolerated on input -->",
        '  <xs:attributeGroup name="flags">',
        '    <xs:attribute ref="tns:modifie"/>',
        '    <xs:attribute name="modifie" type="xs:boolean"/>',
        "  </xs:attributeGroup>",
        '  <xs:element name="interfaceNuu">',
        "    <xs:complexType>",
        *body(root, "      ", flag=False),
        "    </xs:complexType>",
        "  </xs:element>",
    ]
    for c in types.values():
        if c is not root:
            out += [f'  <xs:complexType name="{c.name}">', *body(c, "    "), "  </xs:complexType>"]
    for g in groups.values():
        out += [
            f'  <xs:group name="{g.name}">',
            "    <xs:sequence>",
            *particles(g.items, "      "),
            "    </xs:sequence>",
            "  </xs:group>",
        ]
    for name, s in sorted(simple.items()):
        facets = [f'      <xs:{k} value="{escape(v, {chr(34): "&quot;"})}"/>' for k, v in s.facets]
        out += [
            f'  <xs:simpleType name="{name}">',
            f'    <xs:restriction base="{s.base}">',
            *facets,
            "    </xs:restriction>",
            "  </xs:simpleType>",
        ]
    for name, (base, attrs) in sorted(leaves.items()):
        out += [
            f'  <xs:complexType name="{name}">',
            "    <xs:simpleContent>",
            f'      <xs:extension base="{base}">{attrs}<xs:attributeGroup ref="tns:flags"/>'
            "</xs:extension>",
            "    </xs:simpleContent>",
            "  </xs:complexType>",
        ]
    return "\n".join(out) + "\n</xs:schema>\n"


def main(argv: list[str]) -> int:
    types: dict[str, Complex] = {}
    groups: dict[str, Complex] = {}
    for path in OUTLINES:
        t, g = parse_outline(path.read_text(encoding="utf-8"))
        types.update(t)
        groups.update(g)
    schema = AvroGen(types, groups).record("t_demande")
    schema["doc"] = (
        "Snapshot of an SNE demand (InterfaceNuu 02.01 t_demande), generated by "
        "scripts/gen_sne_schemas.py from schemas/sne/ (plus the hub extensions): do not "
        "edit by hand."
    )
    schema["fields"] += HUB_EXTENSIONS
    outputs = {
        AVSC: json.dumps(schema, indent=1, ensure_ascii=False) + "\n",
        XSD: render_xsd(types, groups),
    }
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text("utf-8") != text]
    if "--check" in argv:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run scripts/gen_sne_schemas.py)")
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(outputs[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
