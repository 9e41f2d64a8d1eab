"""Independent audit J's InterfaceNuu grammar (its ``repro/grammar.py``, copied as a test
oracle): the outline read from the domain reference (``../shared/domain/sne-interface``,
else the project's verbatim copy ``schemas/sne/``) and a document generator driven by it.
Independent from the hub's generator, XSD, Avro schema and other test support."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tests.support.outline_grammar import outline_dir

OUTLINE = str(outline_dir() / "InterfaceNuu_v0201.txt")
NS = "http://nuu.application.i2/"


@dataclass
class Simple:
    base: str
    facets: dict


@dataclass
class Child:
    name: str
    tname: str
    simple: Simple | None
    lo: int
    hi: int | None  # None = unbounded
    attrs: list = field(default_factory=list)


@dataclass
class Choice:
    lo: int
    hi: int
    alts: list  # each alt: list of Child (element or expanded group)


@dataclass
class Complex:
    name: str
    items: list = field(default_factory=list)  # Child | Choice
    attrs: list = field(default_factory=list)  # (name, Simple, use)


def parse_simple(spec: str) -> Simple | None:
    # "t_x=xs:string(maxLength=3,pattern=...)" | "t_date=xs:date" | "xs:string"
    if "=" in spec.split("(")[0]:
        spec = spec.split("=", 1)[1]
    if not spec.startswith("xs:"):
        return None
    m = re.match(r"xs:(\w+)(?:\((.*)\))?$", spec)
    base, fac = m.group(1), m.group(2)
    facets = {}
    if fac:
        # split on commas not inside a pattern: pattern is last when present
        if "pattern=" in fac:
            before, pat = fac.split("pattern=", 1)
            facets["pattern"] = pat
            fac = before.rstrip(",")
        for part in filter(None, fac.split(",")):
            k, v = part.split("=", 1)
            facets[k] = v
    return Simple(base, facets)


CARD = re.compile(r"\[(\d+)\.\.(\d+|unbounded)\]")

DOUBLON = str(outline_dir() / "Doublon_V0200.txt")


def load(path=OUTLINE):
    types: dict[str, Complex] = {}
    groups: dict[str, list] = {}
    cur = None
    choice = None
    lines = [
        *Path(path).read_text(encoding="utf-8").splitlines(),
        *Path(DOUBLON).read_text(encoding="utf-8").splitlines(),
    ]
    for raw in lines:
        if not raw.strip():
            continue
        ind = len(raw) - len(raw.lstrip())
        s = raw.strip()
        if ind == 0:
            kind, name, *_ = s.split()
            if kind == "ELEMENT" and name != "interfaceNuu":
                cur = Complex("ROOT:" + name)
                choice = None
                continue
            cur = Complex(name if kind != "ELEMENT" else "ROOT:" + name)
            choice = None
            if kind == "GROUP":
                groups[name] = cur.items
            types[cur.name] = cur
            continue
        if ind == 2:
            choice = None
        if s.startswith("(choice)"):
            lo, hi = CARD.search(s).groups()
            choice = Choice(int(lo), int(hi), [])
            cur.items.append(choice)
            continue
        if s.startswith("@"):
            m = re.match(r"@(\w+) : (\S+) use=(\S+)", s)
            cur.attrs.append((m.group(1), parse_simple(m.group(2)), m.group(3)))
            continue
        if s.startswith("- group ref"):
            gname = s.split("tns:")[1]
            choice.alts.append(("group", gname))
            continue
        m = re.match(r"- (\w+) : (\S+) \[(\d+)\.\.(\d+|unbounded)\](.*)$", s)
        name, tspec, lo, hi, rest = m.groups()
        c = Child(
            name,
            tspec.split("=")[0],
            parse_simple(tspec),
            int(lo),
            None if hi == "unbounded" else int(hi),
        )
        if "attributes:" in rest:
            for am in re.finditer(r"@(\w+) : (\S+) use=(\S+)", rest):
                c.attrs.append((am.group(1), parse_simple(am.group(2)), am.group(3)))
        if ind == 4 and choice is not None:
            choice.alts.append(("elem", c))
        else:
            cur.items.append(c)
    # resolve group refs
    for t in types.values():
        for it in t.items:
            if isinstance(it, Choice):
                it.alts = [groups[a[1]] if a[0] == "group" else [a[1]] for a in it.alts]
    return types


# ---------------------------------------------------------------- code lists (domain README)
CODES = {
    "civilite": ["1", "2", "3"],
    "nationalite": ["1", "2", "3"],
    "situationFamiliale": list("CMDSPUV"),
    "typeLogement": ["C", "T1", "T2", "T3", "T4", "T5", "T6P"],
    "typologieLogementDalo": ["C", "T1", "T2", "T3", "T4", "T5", "T6P"],
    "categorieLogementRecherche": ["A", "M", "I"],
    "categorieLogement": ["A", "M", "I"],
    "typeContratTravail": ["CDI", "CDD", "ART", "CHO", "APP", "ETU", "RET", "AUT"],
    "ressource": [
        "SAL",
        "RET",
        "CHO",
        "PAR",
        "PINV",
        "AF",
        "AAH",
        "AEEH",
        "AJPP",
        "RSA",
        "AMV",
        "PAJE",
        "BE",
        "AUT",
        "PAV",
    ],
    "modeleLogement": [
        "HLM",
        "LP",
        "RS",
        "RHVS",
        "RE",
        "SLHT",
        "SH",
        "CDEFCM",
        "CPE",
        "CP",
        "LTG",
        "FONC",
        "POCC",
        "CAMCAR",
        "HOT",
        "SD",
        "SQUAT",
    ],
    "motifDemande": [f"{i:02d}" for i in range(1, 24)],
    "typeReservataire": ["COLTER", "COLACT", "PPRIOR", "PFONCT", "AUTRES", "AUCUN"],
    "statutDalo": ["NON", "ACTIF", "CADUC", "ACTREL"],
    "motifRadiation": ["RADATT", "RADABA", "RADIRR", "RADCON", "RADREN"],
    "sousMotifIrrecevabilite": ["IRRSEJ", "IRRRES"],
}
# INSEE communes (domain: 5 chars, Corsica 2A/2B, overseas 97xxx) - Rouen area + edges
WISHED = ["76540", "76681", "76451", "2A004", "2B033", "97411", "75056", "13055"]

TEXTS = [
    'Élodie d\'Arçy-Lefèvre & fils <n°1> "œuvre" ÿ ß æ',
    "O'Neil",
    "Müller–Schmidt",
    "  espaces  autour  ",
    "L'Haÿ-les-Roses",
    "Ñandú ; ça « va » ?",
    "ligne1\nligne2",
    "tab\tici",
    "]]> fin",
    "&amp; littéral",
    "€ 100 – ¼",
    "日本語テキスト",
    "😀 emoji",
]


def fit(text, n):
    return text[:n] if n else text


class Gen:
    """draw(kind, options) is the only source of choice (random or hypothesis)."""

    def __init__(self, types, draw=None, mode="rand", maxrep=3, seed=0):
        self.types, self.mode, self.maxrep = types, mode, maxrep
        self.rng = random.Random(seed)
        self.draw = draw or (lambda opts: self.rng.choice(opts))
        self.counter = 0

    def want(self, lo, hi):
        if self.mode == "max":
            return hi if hi is not None else self.maxrep
        if self.mode == "min":
            return lo
        top = hi if hi is not None else self.maxrep
        return self.draw(list(range(lo, top + 1)))

    def simple_value(self, name, st: Simple, parent=""):
        f = st.facets
        b = st.base
        if b == "boolean":
            return self.draw(["true", "false", "1", "0"])
        if b == "date":
            return self.draw(
                [
                    "2015-12-01",
                    "2000-02-29",
                    "2011-01-01",
                    "2026-12-31",
                    "1999-12-31Z",
                    "2016-06-15+02:00",
                ]
            )
        if b == "dateTime":
            return self.draw(
                [
                    "2015-12-01T10:00:00",
                    "2016-03-27T02:30:00+01:00",
                    "2015-12-01T23:59:59.999Z",
                    "2020-02-29T12:00:00",
                ]
            )
        if b == "int":
            lo, hi = int(f.get("minInclusive", -(2**31))), int(f.get("maxInclusive", 2**31 - 1))
            return str(self.draw([lo, hi, (lo + hi) // 2, max(lo, 0)]))
        pat = f.get("pattern")
        n = int(f["maxLength"]) if "maxLength" in f else None
        if pat:
            if pat.startswith("[0-9]{0,10}"):
                return self.draw(["0123456789", "0612345678", ""])
            if pat.startswith("([a-zA-Z0-9_"):
                return self.draw(["jean-luc.o_neil@exemple.fr", "a@b.co", ""])
            if pat.startswith("[0-9]{1,5}"):
                return self.draw(["76000", "01000", "97400", "1"])
            if pat.startswith("[0-9]{2}"):
                return "02.01"
            if pat.startswith("[a-zA-Z0-9]{3}"):
                return "CRE"
            return "X1"
        if name == "numUnique" or name == "numUniqueAssocie":
            return self.draw(
                [
                    "057121507390310691",
                    "076011500000110691",
                    "02A061600001201234",
                    "97101170000010G110",
                ]
            )
        if name == "numGuichet":
            return self.draw(["10691", "DGALN", "G1104"])
        return fit(self.draw(TEXTS), n)

    def code_value(self, name, parent):
        if name == "commune":
            return self.draw(WISHED)
        if name == "typeLogement" and parent == "attributionLogement":
            return self.draw(CODES["typeLogement"])
        if name in CODES:
            return self.draw(CODES[name])
        return self.draw(["A", "1", "ZZZZZZ", "b2"])

    def element(self, parent_el, c: Child, parent_name):
        el = etree.SubElement(parent_el, f"{{{NS}}}{c.name}")
        if c.simple is not None:
            el.text = self.simple_value(c.name, c.simple, parent_name)
            for an, ast, _use in c.attrs:
                if self.mode == "max" or self.draw([True, False]):
                    el.set(an, fit("nom d'attribut é", int(ast.facets.get("maxLength", 0)) or None))
            return el
        t = self.types[c.tname]
        if not t.items and [a[0] for a in t.attrs] == ["code"]:
            el.set("code", self.code_value(c.name, parent_name))
            return el
        self.fill(el, t, c.name)
        return el

    def fill(self, el, t: Complex, name):
        for an, _ast, use in t.attrs:
            if use == "required" or self.mode == "max" or self.draw([True, False]):
                if an == "code":
                    el.set(an, self.draw(["ERR01", "X"]))
                else:
                    el.set(an, fit("propriété d'X", 255))
        for it in t.items:
            if isinstance(it, Choice):
                n = self.want(it.lo, it.hi)
                for _ in range(n):
                    alt = self.draw(list(range(len(it.alts))))
                    for c in it.alts[alt]:
                        self.child(el, c, name)
            else:
                self.child(el, it, name)

    def child(self, el, c: Child, parent_name):
        # a few exclusions the outline states elsewhere: none; cardinalities only
        n = self.want(c.lo, c.hi)
        for _ in range(n):
            self.element(el, c, parent_name)


def document(types, gen: Gen, op="MOD", version="02.01", num="057121507390310691"):
    root = etree.Element(f"{{{NS}}}interfaceNuu", nsmap={None: NS})
    root.set("versionInterface", version)
    ent = etree.SubElement(root, f"{{{NS}}}entete")
    etree.SubElement(ent, f"{{{NS}}}typeFichier").text = op
    etree.SubElement(ent, f"{{{NS}}}dateFichier").text = "2016-01-15T09:30:00"
    dem = etree.SubElement(root, f"{{{NS}}}demande")
    gen.fill(dem, types["t_demande"], "demande")
    nu = dem.find(f"{{{NS}}}demandeLogement/{{{NS}}}numUnique")
    if num is not None:
        if nu is None:
            g = dem.find(f"{{{NS}}}demandeLogement/{{{NS}}}numGuichet")
            nu = etree.Element(f"{{{NS}}}numUnique")
            g.addnext(nu)
        nu.text = num
    return root


if __name__ == "__main__":
    ts = load()
    for k, v in ts.items():
        print(k, len(v.items), len(v.attrs))
