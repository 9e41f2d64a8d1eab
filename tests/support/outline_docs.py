"""Conformance corpus: InterfaceNuu demand documents walked from the outline grammar.

Built independently of the hub (issue 17 point 2): the grammar is
:mod:`tests.support.outline_grammar` (the outline text files, its own parser), values come
from the outline's facets and from the domain's code lists; nothing is taken from
``hub/dev/generate/``, the hub's XSD or its Avro schema.

:func:`generate` walks the grammar from one seed: every element with its cardinality
(lists up to :data:`MAX_ITEMS` items), each choice branch (``[0..1]`` choices absent too),
optional parts present or absent. Modes: ``minimal`` (required parts only), ``maximal``
(every optional part, lists full, values at their facet bounds) and ``random``. Values:
string lengths 0, 1, ``maxLength`` or between; patterns sampled from their regex (at their
repetition bounds too); integers at ``minInclusive``/``maxInclusive``, 0 or between, in
lexical variants (``+7``, ``007``); booleans as ``true``/``false``/``1``/``0``; coded
elements from the code lists of ``../shared/domain/README.md`` and ``hub.domain.refdata``,
communes from today's INSEE list (``hub.domain.geo``), other codes sampled from their pattern.
Comments and CDATA sections (``decorated``); the ``n:modifie`` flag
(``true``/``false``/``1``/``0``) on items and leaves (never on list wrappers); prefixes:
default namespace, ``n:``, ``ns2:``; UTF-8 or ISO-8859-1 (characters outside Latin-1 as
character references); ``versionInterface`` 02.00 or 02.01.

What the hub requires beyond the outline, and the corpus therefore always writes (each is a
rule of the hub, tested on its own elsewhere): a numéro unique of the 2011 pattern
(``numbered=False`` leaves it out for CRE/CRS: the SNE numbers those); ``typeFichier`` one
of the demand operations; ``dateFichier`` in years 1900–2100. (``live_search=True`` forces a
``logementRecherche`` for CRE, CRS, MOD and REN; by default the walk decides.)

:func:`breakages` lists, for a document, every way to make it invalid once: remove each
required element or attribute, violate each facet; each comes with the name the refusal
must give. (A coded element without its code is legal: the outline's @code is optional.)
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

from tests.support.outline_grammar import NS, Attr, Choice, Elem, GroupRef, Simple, grammar

MODES = ("minimal", "maximal", "random")
OPERATIONS = ("CRE", "CRS", "MOD", "REN", "RAD", "SUP")
LIVE = frozenset({"CRE", "CRS", "MOD", "REN"})
VERSIONS = ("02.00", "02.01")
PREFIXES = ("", "n", "ns2")
ENCODINGS = ("UTF-8", "ISO-8859-1")
MAX_ITEMS = 3
#: one more than any item of ``[n..unbounded]`` lists: bounded documents
_TYPOLOGIES = ("C", "T1", "T2", "T3", "T4", "T5", "T6P")
_CATEGORIES = ("A", "M", "I")
#: code lists of ../shared/domain/README.md ("Code lists (SNE)"), by element name
CODES: dict[str, tuple[str, ...]] = {
    "civilite": ("1", "2", "3"),
    "nationalite": ("1", "2", "3"),
    "situationFamiliale": ("C", "M", "D", "S", "P", "U", "V"),
    "typeLogement": _TYPOLOGIES,
    "typologieLogementDalo": _TYPOLOGIES,
    "typeLogementActuel": _TYPOLOGIES,
    "typeLogementPossede": _TYPOLOGIES,
    "categorieLogementRecherche": _CATEGORIES,
    "categorieLogement": _CATEGORIES,
    "typeContratTravail": ("CDI", "CDD", "ART", "CHO", "APP", "ETU", "RET", "AUT"),
    "ressource": ("SAL", "RET", "CHO", "PAR", "PINV", "AF", "AAH", "AEEH", "AJPP", "RSA",
                  "AMV", "PAJE", "BE", "AUT", "PAV"),
    "modeleLogement": ("HLM", "LP", "RS", "RHVS", "RE", "SLHT", "SH", "CDEFCM", "CPE", "CP",
                       "LTG", "FONC", "POCC", "CAMCAR", "HOT", "SD", "SQUAT"),
    "motifDemande": tuple(f"{n:02d}" for n in range(1, 24)),
    "typeReservataire": ("COLTER", "COLACT", "PPRIOR", "PFONCT", "AUTRES", "AUCUN"),
    "statutDalo": ("NON", "ACTIF", "CADUC", "ACTREL"),
    "motifRadiation": ("RADATT", "RADABA", "RADIRR", "RADCON", "RADREN"),
    "sousMotifIrrecevabilite": ("IRRSEJ", "IRRRES"),
}
_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -'.,&<>\"éèàçôùÉÀ"
_WIDE = _LATIN + "œ€Ÿ中😀"  # beyond Latin-1: character references in ISO-8859-1 documents


@cache
def communes() -> tuple[str, ...]:
    """Today's INSEE commune codes (hub.domain.geo's table), sorted."""
    from hub.domain.geo import get_geography

    geo = get_geography()
    return tuple(sorted(c for c in geo.communes() if geo.has_commune(c)))


def check_code_lists() -> None:
    """The code lists above agree with the hub's versioned tables where it has one."""
    from hub.domain.refdata import TABLES

    assert set(CODES["typeLogement"]) == TABLES["typologie"]
    assert set(CODES["statutDalo"]) == TABLES["statutDalo"]
    assert set(CODES["motifRadiation"]) == TABLES["motifRadiation"] - {""}


# -- regular expressions (the outline's patterns) --------------------------------------------


def _chars(body: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i + 1] if body[i] == "\\" else body[i]
        i += 2 if body[i] == "\\" else 1
        if i + 1 < len(body) and body[i] == "-":
            hi = body[i + 2] if body[i + 1] == "\\" else body[i + 1]
            out += [chr(x) for x in range(ord(c), ord(hi) + 1)]
            i += 3 if body[i + 1] == "\\" else 2
        else:
            out.append(c)
    return out


def _regex(p: str, i: int = 0) -> tuple[list[tuple[Any, int, int | None]], int]:
    seq: list[tuple[Any, int, int | None]] = []
    while i < len(p) and p[i] != ")":
        atom: Any
        if p[i] == "[":
            j = p.index("]", i + 1)
            atom, i = ("set", _chars(p[i + 1 : j])), j + 1
        elif p[i] == "(":
            sub, i = _regex(p, i + 1)
            atom, i = ("seq", sub), i + 1
        elif p[i] == "\\":
            atom, i = ("set", [p[i + 1]]), i + 2
        else:
            atom, i = ("set", [p[i]]), i + 1
        lo = 1
        hi_: int | None = 1
        if i < len(p) and p[i] in "?+*{":
            if p[i] == "{":
                j = p.index("}", i)
                a, comma, b = p[i + 1 : j].partition(",")
                lo, hi_ = int(a), (int(b) if b else None) if comma else int(a)
                i = j + 1
            else:
                lo, hi_ = {"?": (0, 1), "+": (1, None), "*": (0, None)}[p[i]]
                i += 1
        seq.append((atom, lo, hi_))
    return seq, i


def sample_pattern(pattern: str, rnd: random.Random, edge: bool) -> str:
    """A string matching ``pattern``; ``edge``: repetitions at their bounds."""
    seq, _ = _regex(pattern)

    def gen(seq: list[tuple[Any, int, int | None]]) -> str:
        out = []
        for atom, lo, hi in seq:
            top = hi if hi is not None else lo + 4
            n = rnd.choice((lo, top)) if edge else rnd.randint(lo, top)
            for _ in range(n):
                out.append(rnd.choice(atom[1]) if atom[0] == "set" else gen(atom[1]))
        return "".join(out)

    return gen(seq)


# -- the document tree ------------------------------------------------------------------------


@dataclass
class Node:
    """One element: local name, declaration, attributes (``modifie`` apart), text, children."""

    name: str
    decl: Elem | None
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    children: list[Node] = field(default_factory=list)
    modifie: str | None = None  # "true", "false", "1", "0" or None (no flag)


@dataclass(repr=False)
class Document:
    seed: int
    mode: str
    operation: str
    version: str
    prefix: str
    encoding: str
    root: Node
    decorated: bool = False  # comments, CDATA sections, no XML declaration (UTF-8)
    options: str = ""  # the keyword arguments of generate() other than the operation

    @property
    def xml(self) -> bytes:
        return serialize(self.root, self.prefix, self.encoding, self.decorated)

    def __repr__(self) -> str:  # hypothesis prints it: how to rebuild it, not the tree
        return f"generate({self.seed}, {self.mode!r}, operation={self.operation!r}{self.options})"

    def describe(self) -> str:
        return (f"seed={self.seed} mode={self.mode} operation={self.operation} "
                f"version={self.version} prefix={self.prefix or '(default)'} "
                f"encoding={self.encoding} decorated={self.decorated}")


def serialize(root: Node, prefix: str, encoding: str, decorated: bool = False) -> bytes:
    """The document's bytes: every element qualified (``prefix:`` or the default namespace),
    the flag as ``<p>:modifie`` (a prefix is bound for it in the default style too).
    ``decorated``: a comment opens each element with children, texts holding ``<`` or
    ``&`` are CDATA sections, and a UTF-8 document has no XML declaration."""
    flag_prefix = prefix or "n"
    parts: list[str] = []

    def tag(name: str) -> str:
        return f"{prefix}:{name}" if prefix else name

    def write(node: Node, top: bool) -> None:
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in node.attrs.items())
        if top:
            decl = f' xmlns:{prefix}="{NS}"' if prefix else f' xmlns="{NS}" xmlns:n="{NS}"'
            attrs = decl + attrs
        if node.modifie is not None:
            attrs += f' {flag_prefix}:modifie="{node.modifie}"'
        if not node.children and not node.text:
            parts.append(f"<{tag(node.name)}{attrs}/>")
            return
        parts.append(f"<{tag(node.name)}{attrs}>")
        if decorated and node.children:
            parts.append(f"<!-- {node.name} -->")
        if node.text and decorated and ("<" in node.text or "&" in node.text) and _fits(
                node.text, encoding):  # no character reference inside CDATA
            parts.append(f"<![CDATA[{node.text}]]>")
        elif node.text:
            parts.append(escape(node.text))
        for child in node.children:
            write(child, False)
        parts.append(f"</{tag(node.name)}>")

    write(root, True)
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    if decorated and encoding == "UTF-8":
        head = "<!-- no declaration: UTF-8 by default -->\n"
    return (head + "".join(parts)).encode(encoding, "xmlcharrefreplace")


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


class _Walker:
    def __init__(self, rnd: random.Random, mode: str, prefer: int | None, text: str) -> None:
        self.rnd, self.mode, self.prefer, self.alphabet = rnd, mode, prefer, text
        self.g = grammar()
        self.force: set[str] = set()  # paths written although optional (hub rules)
        self.omit: set[str] = set()  # paths left out (numéro unique of an unnumbered CRE)

    def present(self, path: str) -> bool:
        if path in self.force:
            return True
        if path in self.omit or self.mode == "minimal":
            return False
        return self.mode == "maximal" or self.rnd.random() < 0.5

    def count(self, e: Elem, path: str) -> int:
        if path in self.omit:
            return 0
        lo = max(e.min, 1 if path in self.force else 0)
        hi = MAX_ITEMS if e.max is None else e.max
        if self.mode == "minimal":
            return lo
        if self.mode == "maximal":
            return max(lo, hi)
        if lo == 0 and self.rnd.random() < 0.4:
            return 0
        return self.rnd.randint(max(lo, 1), max(lo, hi))

    def items(self, items: list[Any], path: str) -> list[Node]:
        out: list[Node] = []
        for it in items:
            if isinstance(it, Elem):
                out += self.elements(it, path)
            elif isinstance(it, GroupRef):
                out += self.items(self.g.groups[it.name].items, path)
            else:
                out += self.choice(it, path)
        return out

    def choice(self, c: Choice, path: str) -> list[Node]:
        names = {e.name for e in self.g.flat(c.branches)}
        wanted = any(f"{path}.{n}" in self.force for n in names)
        if c.min == 0 and not wanted and not self.present(f"{path}.(choice)"):
            return []
        n = len(c.branches)
        pick = self.prefer % n if self.prefer is not None else self.rnd.randrange(n)
        for i, b in enumerate(c.branches):  # a forced branch wins
            if isinstance(b, Elem) and f"{path}.{b.name}" in self.force:
                pick = i
        return self.items([c.branches[pick]], path)

    def elements(self, e: Elem, parent: str) -> list[Node]:
        path = f"{parent}.{e.name}" if parent else e.name
        return [self.element(e, path) for _ in range(self.count(e, path))]

    def element(self, e: Elem, path: str) -> Node:
        node = Node(e.name, e)
        if isinstance(e.type, Simple):
            node.text = self.value(e.type, e.name)
            for a in e.attrs:
                if a.required or self.present(f"{path}@{a.name}"):
                    node.attrs[a.name] = self.value(a.type, a.name)
        else:
            c = self.g.types[e.type]
            for a in c.attrs:
                if a.required or self.g.coded(e) or self.present(f"{path}@{a.name}"):
                    node.attrs[a.name] = self.code(e, a) if a.name == "code" else self.value(
                        a.type, a.name)
            node.children = self.items(c.items, path)
        if self.mode != "minimal" and not e.name.startswith("liste") and self.rnd.random() < 0.2:
            node.modifie = self.rnd.choice(("true", "false", "1", "0"))
        return node

    def code(self, e: Elem, a: Attr) -> str:
        if e.name in CODES:
            return self.rnd.choice(CODES[e.name])
        if e.type in ("t_commune", "doublon_codeCommune"):
            return self.rnd.choice(communes())
        return self.value(a.type, a.name)

    def value(self, t: Simple, name: str) -> str:
        rnd, edge = self.rnd, self.mode == "maximal" or self.rnd.random() < 0.3
        if t.base == "xs:boolean":  # whitespace collapses
            return rnd.choice(("true", "false", "1", "0", " true ", "\n0\n"))
        if t.base == "xs:int":
            lo = int(t.facet("minInclusive") or -(2**31))
            hi = int(t.facet("maxInclusive") or 2**31 - 1)
            n = rnd.choice((lo, hi, max(lo, min(hi, 0)))) if edge else rnd.randint(lo, hi)
            form = rnd.choice(("{}", "{}", "+{}", "0{}", " {} ")) if n >= 0 else "{}"
            return form.format(n)
        if t.base == "xs:date":
            d = f"{rnd.randint(1900, 2100):04d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            return d + rnd.choice(("", "", "Z", "+01:00", "-05:30"))
        if t.base == "xs:dateTime":
            return date_time(rnd)
        pattern, top = t.facet("pattern"), t.facet("maxLength")
        limit = int(top) if top else 40
        if pattern:
            for _ in range(20):
                v = sample_pattern(pattern, rnd, edge)
                if len(v) <= limit and re.fullmatch(pattern, v):
                    return v
            return sample_pattern(pattern, random.Random(0), False)[:limit]
        n = rnd.choice((0, 1, limit)) if edge else rnd.randint(0, limit)
        return "".join(rnd.choice(self.alphabet) for _ in range(n))


def date_time(rnd: random.Random) -> str:
    """An xs:dateTime: years 1900–2100, fractions, offsets or none, ``24:00:00``."""
    day = f"{rnd.randint(1900, 2100):04d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    clock = rnd.choice((
        f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}",
        f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}."
        + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 7))),
        "24:00:00", "00:00:00",
    ))
    return f"{day}T{clock}" + rnd.choice(("", "Z", "+01:00", "+14:00", "-14:00", "-00:00"))


def num_unique(rnd: random.Random) -> str:
    """A numéro unique of the 2011 structure (domain README: DDD MMYY SSSSSS GGGGG)."""
    ddd = rnd.choice(("057", "076", "023", "111", "02A", "974"))
    mmyy = f"{rnd.randint(1, 12):02d}{rnd.randint(11, 30):02d}"
    guichet = "".join(rnd.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))
    return f"{ddd}{mmyy}{rnd.randint(0, 999_999):06d}{guichet}"


def generate(seed: int, mode: str = "random", *, operation: str | None = None,
             prefer: int | None = None, numbered: bool = True,
             live_search: bool = False) -> Document:
    """One document from ``seed`` (deterministic). ``prefer``: the branch index every
    choice takes (None: random); see the module doc for ``numbered``/``live_search``."""
    rnd = random.Random(seed)
    drawn = rnd.choice(OPERATIONS)  # drawn anyway: the same seed gives the same rest
    op = operation or drawn
    encoding = rnd.choice(ENCODINGS)
    walker = _Walker(rnd, mode, prefer, _WIDE if rnd.random() < 0.5 else _LATIN)
    dl = "demande.demandeLogement"
    if numbered:
        walker.force.add(f"{dl}.numUnique")
    elif op in ("CRE", "CRS"):
        walker.omit.add(f"{dl}.numUnique")
    if live_search and op in LIVE:
        walker.force.add(f"{dl}.logementRecherche")
    g = grammar()
    root = Node("interfaceNuu", None, {"versionInterface": rnd.choice(VERSIONS)})
    root.children = walker.items(g.root.items, "")
    entete = root.children[0]
    entete.children[0].text = op
    for node in _walk(root):
        if node.name in ("entete", "typeFichier", "dateFichier", "demande"):
            node.modifie = None
    for node in _numbered(root):
        node.text = num_unique(rnd)
    options = "".join(f", {k}={v!r}" for k, v in (
        ("prefer", prefer), ("numbered", numbered), ("live_search", live_search))
        if v != {"prefer": None, "numbered": True, "live_search": True}[k])
    return Document(seed, mode, op, root.attrs["versionInterface"], rnd.choice(PREFIXES),
                    encoding, root, rnd.random() < 0.25, options)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _numbered(root: Node) -> list[Node]:
    """The ``demandeLogement/numUnique`` node(s) (not the duplicates' numbers)."""
    dl = [c for c in find(root, "demande") for c in c.children if c.name == "demandeLogement"]
    return [c for d in dl for c in d.children if c.name == "numUnique"]


def find(node: Node, name: str) -> list[Node]:
    """Every element named ``name`` below ``node`` (included), document order."""
    return [n for n in _walk(node) if n.name == name]


def numbered(doc: Document, num: str, communes: list[str] | None = None) -> Document:
    """``doc`` with demandeLogement/numUnique ``num`` and, when given, its wished communes
    (the ``commune`` of each ``localisationSouhaite``, cycling through ``communes``)."""
    for node in _numbered(doc.root):
        node.text = num
    wished = [c for loc in find(doc.root, "localisationSouhaite") for c in loc.children
              if c.name == "commune"]
    codes = communes or []
    for i, node in enumerate(wished if codes else []):
        node.attrs["code"] = codes[i % len(codes)]
    return doc


def documents(mode: str | None = None, **kw: Any) -> st.SearchStrategy[Document]:
    """Hypothesis strategy of corpus documents (a seed and a mode: deterministic per draw)."""
    modes = st.sampled_from(MODES) if mode is None else st.just(mode)
    return st.builds(lambda s, m: generate(s, m, **kw), st.integers(0, 2**63 - 1), modes)


# -- breaking a document once ---------------------------------------------------------------


@dataclass
class Breakage:
    """One way to make a document invalid: what was done, the names the refusal must give."""

    what: str  # e.g. "remove demande.demandeLogement.numGuichet"
    names: tuple[str, ...]  # each must appear in the one-line error
    xml: bytes
    value: str | None = None  # the bad value written (must not be echoed)


def _copy(node: Node) -> Node:
    return Node(node.name, node.decl, dict(node.attrs), node.text,
                [_copy(c) for c in node.children], node.modifie)


def _paths(node: Node, path: str = "") -> Iterator[tuple[str, list[int]]]:
    """(dotted path, index chain from the root) of every element, document order."""
    yield path or node.name, []
    for i, child in enumerate(node.children):
        for p, chain in _paths(child, f"{path or node.name}.{child.name}"):
            yield p, [i, *chain]


def _at(root: Node, chain: list[int]) -> Node:
    for i in chain:
        root = root.children[i]
    return root


def _bad_values(t: Simple) -> Iterator[tuple[str, str]]:
    """(facet, value violating it) for each facet of ``t``."""
    top = t.facet("maxLength")
    pattern = t.facet("pattern")
    if top:
        filler = (sample_pattern(pattern, random.Random(1), True) if pattern else "") or "0"
        yield "maxLength", (filler * (int(top) + 2))[: int(top) + 1]
    if pattern:
        for v in ("!", "", "A", "0" * 20, "a@b"):
            if not re.fullmatch(pattern, v) and (not top or len(v) <= int(top)):
                yield "pattern", v
                break
    if t.facet("minInclusive") is not None:
        yield "minInclusive", str(int(t.facet("minInclusive") or 0) - 1)
    if t.facet("maxInclusive") is not None:
        yield "maxInclusive", str(int(t.facet("maxInclusive") or 0) + 1)


def breakages(doc: Document) -> Iterator[Breakage]:
    """Every single violation of ``doc``, each part once (first occurrence of each path):
    required element removed, required attribute removed, each facet violated."""
    g = grammar()
    bare = _copy(doc.root)
    bare.attrs.pop("versionInterface")
    yield Breakage("remove interfaceNuu@versionInterface", ("versionInterface",),
                   serialize(bare, doc.prefix, doc.encoding))
    seen: set[str] = set()
    for path, chain in list(_paths(doc.root)):
        if path in seen or not chain:
            continue
        seen.add(path)
        node = _at(doc.root, chain)
        e = node.decl
        assert e is not None
        parent = _at(doc.root, chain[:-1])
        siblings = [c for c in parent.children if c.name == node.name]

        def variant(change: Any, what: str, *names: str, chain: list[int] = chain,
                    value: str | None = None) -> Breakage:
            root = _copy(doc.root)
            change(_at(root, chain[:-1]), _at(root, chain))
            xml = serialize(root, doc.prefix, doc.encoding, doc.decorated)
            return Breakage(what, names, xml, value)

        if e.min >= 1 and len(siblings) <= e.min:
            yield variant(lambda p, n: p.children.remove(n), f"remove {path}", e.name)
        if isinstance(e.type, Simple):
            for facet, bad in _bad_values(e.type):
                yield variant(lambda p, n, b=bad: setattr(n, "text", b),
                              f"{facet} of {path}", e.name, value=bad)
            for a in e.attrs:
                for facet, bad in _bad_values(a.type):
                    if a.name in node.attrs:
                        yield variant(lambda p, n, b=bad, k=a.name: n.attrs.__setitem__(k, b),
                                      f"{facet} of {path}@{a.name}", e.name, a.name,
                                      value=bad)
            continue
        for a in g.types[e.type].attrs:
            if a.required and a.name in node.attrs:
                yield variant(lambda p, n, k=a.name: n.attrs.pop(k),
                              f"remove {path}@{a.name}", e.name, a.name)
            if a.name in node.attrs:
                for facet, bad in _bad_values(a.type):
                    yield variant(lambda p, n, b=bad, k=a.name: n.attrs.__setitem__(k, b),
                                  f"{facet} of {path}@{a.name}", e.name, value=bad)
        # a coded element without its code is legal (@code is optional): the empty code
