"""Secondary secrecy between territories (audit R, R-F2; docs/statistics.md).

A demand counts at its first wished commune, so an EPCI's figure is the sum of its
communes' and a département's too: a withheld commune's count was its EPCI's minus the
published communes. :func:`suppress` decides, for one additive series (one count per
commune: the active stock, the new demands of one month …), which territories are withheld
so that no published combination gives a figure on fewer than ``seuil`` demands.

Contracts (pure: no database, no clock):

* **Primary**: every commune, EPCI and département of total < ``seuil`` is withheld (a
  count of 0 too).
* **Per parent**: within every published EPCI and published département, the withheld
  communes hold together 0 communes or ``seuil`` demands or more (the parent minus its
  published communes is that total).
* **EPCIs spanning départements**: a published EPCI has withheld communes in one
  département at most (else it is withheld).
* **Per département, between EPCIs**: within every published département, the withheld
  communes of its withheld EPCIs (and of its communes outside any EPCI) hold together 0
  communes or ``seuil`` demands or more (the département minus its published EPCIs and
  communes is that total).
* Only communes and EPCIs are withheld beyond the primary rule: a département's figure
  (and its Prometheus gauge) is withheld only below ``seuil``.
* Deterministic; the territories added are the smallest that fix a breach (count, then
  code).

Why these rules are enough (no combination of published figures gives a sum of fewer
than ``seuil`` demands, or of 0, over withheld communes). Published communes are known;
what remains are the *pieces* (the withheld communes of one EPCI inside one département).
A combination weighs each published EPCI and département; a piece receives the weights of
its EPCI and its département, and every withheld commune of a piece weighs alike, so no
combination separates them. A published EPCI has one piece at most (second rule): its
weight reaches that piece only, whose total is the EPCI's minus its published communes
(≥ ``seuil`` by the first rule). A withheld EPCI weighs 0, so its pieces receive their
département's weight only: all together, the third rule's total. Any sum of whole pieces
a combination gives is therefore a sum of such totals, each ≥ ``seuil``.
``tests/unit/test_statistics_secondary_oracle.py`` checks the outcome against exact
elimination (rational arithmetic) over generated geographies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: a territory above the communes: ("e", epci), ("d", departement) or ("n", commune) for a
#: commune outside any EPCI (no figure of its own: never published)
Node = tuple[str, str]
Piece = tuple[Node, Node]


@dataclass(frozen=True, slots=True)
class Withheld:
    """The territories of one series whose figure is withheld."""

    communes: frozenset[str]
    epcis: frozenset[str]
    departements: frozenset[str]

    def has(self, niveau: str, code: str) -> bool:
        return (
            code
            in {
                "commune": self.communes,
                "epci": self.epcis,
                "departement": self.departements,
            }[niveau]
        )


class _Layout:
    """What a membership implies, whatever the counts: each commune's piece, each
    territory's pieces (built once per membership: :func:`_layout`)."""

    def __init__(self, membership: Mapping[str, tuple[str | None, str]]) -> None:
        self.piece_of: dict[str, Piece] = {}
        self.communes_of_piece: dict[Piece, list[str]] = {}
        self.pieces_of: dict[Node, list[Piece]] = {}
        for c, (epci, dep) in sorted(membership.items()):
            e: Node = ("e", epci) if epci is not None else ("n", c)
            p: Piece = (e, ("d", dep))
            self.piece_of[c] = p
            if p not in self.communes_of_piece:
                self.communes_of_piece[p] = []
                for node in p:
                    self.pieces_of.setdefault(node, []).append(p)
            self.communes_of_piece[p].append(c)


_LAYOUTS: dict[int, tuple[Mapping[str, tuple[str | None, str]], _Layout]] = {}


def _layout(membership: Mapping[str, tuple[str | None, str]]) -> _Layout:
    # remembered for a read-only view only (hub.domain.geo_components.Members.table: the
    # callers pass the same one for every series of a request), keyed by identity (the view
    # is kept alive with it, so the id is not reused); a plain dict may change in place
    # between two calls (review V, V-F2): its layout is built each time
    if not isinstance(membership, MappingProxyType):
        return _Layout(membership)
    found = _LAYOUTS.get(id(membership))
    if found is not None and found[0] is membership:
        return found[1]
    if len(_LAYOUTS) >= 8:
        _LAYOUTS.clear()
    layout = _Layout(membership)
    _LAYOUTS[id(membership)] = (membership, layout)
    return layout


class _Series:
    """The working state of one :func:`suppress` run. Sparse: what is kept are the
    communes of ``seuil`` or more (the only ones published), per piece; a piece's withheld
    total is its total minus its published communes'."""

    def __init__(self, counts: Mapping[str, int], layout: _Layout, seuil: int) -> None:
        self.seuil = seuil
        self.layout = layout
        self.count = {c: int(n) for c, n in counts.items() if n}
        self.total: dict[Node, int] = dict.fromkeys(layout.pieces_of, 0)
        self.withheld_sum: dict[Piece, int] = dict.fromkeys(layout.communes_of_piece, 0)
        self.shown: dict[Piece, set[str]] = {p: set() for p in layout.communes_of_piece}
        for c, n in self.count.items():
            p = layout.piece_of[c]
            for node in p:
                self.total[node] += n
            if n >= seuil:
                self.shown[p].add(c)
            else:
                self.withheld_sum[p] += n
        self.withheld_nodes = {n for n, t in self.total.items() if t < seuil or n[0] == "n"}

    def published(self, node: Node) -> bool:
        return node not in self.withheld_nodes

    def has_withheld(self, p: Piece) -> bool:
        return len(self.layout.communes_of_piece[p]) > len(self.shown[p])

    def withhold_smallest_commune(self, pieces: Iterable[Piece]) -> bool:
        open_ = [c for p in pieces for c in self.shown[p]]
        if not open_:
            return False
        c = min(open_, key=lambda c: (self.count[c], c))
        p = self.layout.piece_of[c]
        self.shown[p].discard(c)
        self.withheld_sum[p] += self.count[c]
        return True

    def _breached(self, pieces: list[Piece]) -> bool:
        """Whether these pieces hold withheld communes totalling 0 to seuil − 1."""
        held = [p for p in pieces if self.has_withheld(p)]
        return bool(held) and sum(self.withheld_sum[p] for p in held) < self.seuil

    def parent_rule(self) -> bool:
        """Withhold communes until, in every published parent, the withheld communes hold
        0 communes or ``seuil`` demands or more (a parent holding only withheld zeros gets
        its smallest published commune withheld too); True when something was withheld."""
        changed = False
        for node in sorted(self.layout.pieces_of):
            if node[0] == "n" or not self.published(node):
                continue
            pieces = self.layout.pieces_of[node]
            # cannot run dry: a published parent holds seuil or more
            while self._breached(pieces) and self.withhold_smallest_commune(pieces):
                changed = True
        return changed

    def spanning_rule(self) -> bool:
        """Withhold each published EPCI whose withheld communes lie in two départements or
        more; True when something was withheld."""
        spanning = {
            e
            for e, pieces in self.layout.pieces_of.items()
            if e[0] == "e"
            and self.published(e)
            and sum(1 for p in pieces if self.has_withheld(p)) > 1
        }
        self.withheld_nodes |= spanning
        return bool(spanning)

    def departement_rule(self) -> bool:
        """Where a published département's withheld EPCIs hold 1 to seuil − 1 withheld
        demands (or only zeros), withhold its smallest published commune of a withheld EPCI,
        else its smallest published EPCI; True when something was withheld."""
        for d in sorted(n for n in self.layout.pieces_of if n[0] == "d"):
            if not self.published(d):
                continue
            pieces = self.layout.pieces_of[d]
            hidden = [p for p in pieces if not self.published(p[0])]
            if not self._breached(hidden):
                continue
            if self.withhold_smallest_commune(hidden):
                return True
            epcis = [p[0] for p in pieces if self.published(p[0])]
            # cannot be empty: with every EPCI and commune of d withheld, d's residual is
            # d's total (>= seuil, d being published)
            self.withheld_nodes.add(min(epcis, key=lambda n: (self.total[n], n[1])))
            return True
        return False

    def withheld_communes(self) -> frozenset[str]:
        shown = set().union(*self.shown.values())
        return frozenset(c for c in self.layout.piece_of if c not in shown)


def suppress(
    counts: Mapping[str, int],
    membership: Mapping[str, tuple[str | None, str]],
    seuil: int = 11,
) -> Withheld:
    """The withheld territories of one series (module doc). ``counts``: commune → count
    (missing: 0); ``membership``: commune → (EPCI or None, département), every commune of
    the territories concerned (a commune of ``counts`` outside it is a ValueError)."""
    unknown = set(counts) - set(membership)
    if unknown:
        raise ValueError(f"communes without membership: {sorted(unknown)[:5]}")
    s = _Series(counts, _layout(membership), seuil)
    while s.parent_rule() or s.spanning_rule() or s.departement_rule():
        pass
    return Withheld(
        communes=s.withheld_communes(),
        epcis=frozenset(n[1] for n in s.withheld_nodes if n[0] == "e"),
        departements=frozenset(n[1] for n in s.withheld_nodes if n[0] == "d"),
    )
