"""The SNE InterfaceNuu outline, read as a grammar, independently of the hub.

Reads the outline text files of the domain reference (``../shared/domain/sne-interface/``
beside the repository, else the project's verbatim copy ``schemas/sne/``) with its own
parser: nothing here imports the hub's generator (``scripts/gen_sne_schemas.py``), its XSD,
its Avro schema or ``hub/dev/generate/``. :mod:`tests.support.outline_docs` walks it to write
documents; :func:`meaning` reads any document back with it, so that two documents can be
compared value by value (booleans and integers by value, everything else verbatim).

Notation (``../shared/domain/README.md``): ``- name : type [min..max]`` an element,
``@name : type use=…`` an attribute (``use=None``: optional), ``(choice) [min..max]`` a choice
and its own cardinality, ``attributes: @…`` after an element whose simple content carries
attributes, ``- group ref tns:g`` a group. Simple types: ``t_x=xs:base(facet=value,…)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

REPO = Path(__file__).resolve().parents[2]
DOMAIN_DIR = REPO.parent / "shared" / "domain" / "sne-interface"
COPY_DIR = REPO / "schemas" / "sne"
FILES = ("InterfaceNuu_v0201.txt", "Doublon_V0200.txt")
NS = "http://nuu.application.i2/"


def outline_dir() -> Path:
    """The domain reference when present (the source of truth), else the project's copy."""
    return DOMAIN_DIR if all((DOMAIN_DIR / f).is_file() for f in FILES) else COPY_DIR


@dataclass(frozen=True)
class Simple:
    name: str | None
    base: str  # "xs:string", "xs:int", ...
    facets: tuple[tuple[str, str], ...]

    def facet(self, key: str) -> str | None:
        return next((v for k, v in self.facets if k == key), None)


@dataclass(frozen=True)
class Attr:
    name: str
    type: Simple
    use: str  # "required", "optional" or "None" (optional)

    @property
    def required(self) -> bool:
        return self.use == "required"


@dataclass
class Elem:
    name: str
    type: str | Simple  # str: a complex type
    min: int
    max: int | None  # None: unbounded
    attrs: tuple[Attr, ...] = ()


@dataclass
class Choice:
    branches: list[Any]  # Elem | GroupRef
    min: int
    max: int


@dataclass(frozen=True)
class GroupRef:
    name: str


@dataclass
class Complex:
    name: str
    items: list[Any] = field(default_factory=list)  # Elem | GroupRef | Choice
    attrs: list[Attr] = field(default_factory=list)


_ELEM = re.compile(r"^( +)- (\w+) : (\S+) \[(\d+)\.\.(\d+|unbounded)\](?:\s+attributes: (.+))?$")
_GROUP = re.compile(r"^( +)- group ref tns:(\w+)$")
_CHOICE = re.compile(r"^ +\(choice\) \[(\d+)\.\.(\d+)\]$")
_ATTR = re.compile(r"@(\w+) : (\S+) use=(\w+)")
_FACETS = re.compile(r",(?=\w+=)")


def _simple(spec: str) -> Simple:
    head = spec.split("(", 1)[0]
    name, base = head.split("=", 1) if "=" in head else (None, head)
    facets = spec[len(head) + 1 : -1] if "(" in spec else ""
    pairs = tuple((k, v) for k, v in (f.split("=", 1) for f in _FACETS.split(facets) if f))
    return Simple(name, base, pairs)


@dataclass
class Grammar:
    types: dict[str, Complex]
    groups: dict[str, Complex]

    @property
    def root(self) -> Complex:
        return self.types["interfaceNuu"]

    def flat(self, items: list[Any]) -> list[Elem]:
        """Every element declaration of ``items`` (choices and groups expanded)."""
        out: list[Elem] = []
        for it in items:
            if isinstance(it, Elem):
                out.append(it)
            elif isinstance(it, Choice):
                out += self.flat(it.branches)
            else:
                out += self.flat(self.groups[it.name].items)
        return out

    def children(self, type_name: str) -> dict[str, Elem]:
        return {e.name: e for e in self.flat(self.types[type_name].items)}

    def coded(self, e: Elem) -> bool:
        """A coded element: an empty element whose only attribute is ``code``."""
        if not isinstance(e.type, str):
            return False
        c = self.types[e.type]
        return not c.items and [a.name for a in c.attrs] == ["code"]


def parse(text: str, grammar: Grammar | None = None) -> Grammar:
    """Add the types and groups of one outline file to ``grammar`` (a new one if None)."""
    g = grammar or Grammar({}, {})
    cur: Complex | None = None
    choice: Choice | None = None
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if words[0] in ("TYPE", "GROUP", "ELEMENT"):
            cur, choice = Complex(words[1]), None
            if words[0] == "GROUP":
                g.groups[words[1]] = cur
            elif words[0] == "TYPE" or words[2] == "None":  # a typed global element: a ref
                g.types[words[1]] = cur
        elif cur is None:
            raise ValueError(f"outline line {n} outside a type: {line!r}")
        elif m := _CHOICE.match(line):
            choice = Choice([], int(m[1]), int(m[2]))
            cur.items.append(choice)
        elif m := _ELEM.match(line):
            spec = m[3].removeprefix("tns:")
            typ: str | Simple = _simple(spec) if "=" in spec or spec.startswith("xs:") else spec
            attrs = tuple(Attr(a[1], _simple(a[2]), a[3]) for a in _ATTR.finditer(m[6] or ""))
            e = Elem(m[2], typ, int(m[4]), None if m[5] == "unbounded" else int(m[5]), attrs)
            (choice.branches if choice is not None and len(m[1]) > 2 else cur.items).append(e)
        elif m := _GROUP.match(line):
            target = choice.branches if choice is not None and len(m[1]) > 2 else cur.items
            target.append(GroupRef(m[2]))
        elif line.lstrip().startswith("@"):
            m = _ATTR.search(line)
            if m is None:
                raise ValueError(f"outline line {n}: {line!r}")
            cur.attrs.append(Attr(m[1], _simple(m[2]), m[3]))
        else:
            raise ValueError(f"outline line {n} not understood: {line!r}")
    return g


@cache
def grammar() -> Grammar:
    """The demand grammar: InterfaceNuu 02.01 with the duplicates outline it refers to."""
    g: Grammar | None = None
    for f in FILES:
        g = parse((outline_dir() / f).read_text("utf-8"), g)
    assert g is not None
    return g


# -- reading a document back with the grammar ------------------------------------------------


def _norm(t: Simple, text: str) -> Any:
    if t.base == "xs:boolean":
        return text.strip() in ("true", "1")
    if t.base in ("xs:int", "xs:long", "xs:integer"):
        return int(text.strip())
    return text


def _flag(el: etree._Element) -> bool:
    return el.get(f"{{{NS}}}modifie") in ("true", "1")


def meaning(demande: etree._Element) -> tuple[Any, frozenset[str]]:
    """(value tree, dotted paths of the flagged elements) of a ``demande`` element.

    The tree holds element names, attributes (the ``modifie`` flag excepted, told apart in
    the paths: no list index, as ``changedFields`` has it) and normalised values."""
    g = grammar()
    flagged: set[str] = set()

    def walk(el: etree._Element, decl: Elem, path: str) -> Any:
        if _flag(el):
            flagged.add(path)
        attrs = tuple(sorted((k, v) for k, v in el.attrib.items() if "}" not in k))
        if isinstance(decl.type, Simple):
            return (decl.name, attrs, _norm(decl.type, el.text or ""))
        kids = g.children(decl.type)
        out = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            out.append(walk(child, kids[name], f"{path}.{name}" if path else name))
        return (decl.name, attrs, tuple(out))

    top = g.children("interfaceNuu")["demande"]
    return walk(demande, top, ""), frozenset(flagged)
