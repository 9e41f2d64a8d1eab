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


class _Series:
    """The working state of one :func:`suppress` run."""

    def __init__(
        self,
        counts: Mapping[str, int],
        membership: Mapping[str, tuple[str | None, str]],
        seuil: int,
    ) -> None:
        self.seuil = seuil
        self.count = {c: int(counts.get(c, 0)) for c in membership}
        self.piece: dict[str, Piece] = {}
        self.communes_of: dict[Node, list[str]] = {}
        self.total: dict[Node, int] = {}
        for c, (epci, dep) in membership.items():
            e: Node = ("e", epci) if epci is not None else ("n", c)
            d: Node = ("d", dep)
            self.piece[c] = (e, d)
            for node in (e, d):
                self.communes_of.setdefault(node, []).append(c)
                self.total[node] = self.total.get(node, 0) + self.count[c]
        self.withheld_communes = {c for c, n in self.count.items() if n < seuil}
        self.withheld_nodes = {n for n, t in self.total.items() if t < seuil or n[0] == "n"}

    def published(self, node: Node) -> bool:
        return node not in self.withheld_nodes

    def withhold_smallest_commune(self, candidates: Iterable[str]) -> bool:
        open_ = [c for c in candidates if c not in self.withheld_communes]
        if not open_:
            return False
        self.withheld_communes.add(min(open_, key=lambda c: (self.count[c], c)))
        return True

    def parent_rule(self) -> bool:
        """Withhold communes until, in every published parent, the withheld communes hold
        0 communes or ``seuil`` demands or more (a parent holding only withheld zeros gets
        its smallest published commune withheld too); True when something was withheld."""
        residual: dict[Node, int] = {}
        for c in self.withheld_communes:
            for node in self.piece[c]:
                residual[node] = residual.get(node, 0) + self.count[c]
        todo = sorted(residual)
        changed = False
        while todo:
            node = todo.pop()
            if not self.published(node) or residual.get(node, self.seuil) >= self.seuil:
                continue
            before = set(self.withheld_communes)
            if not self.withhold_smallest_commune(self.communes_of[node]):
                continue  # cannot happen: a published parent holds seuil or more
            (c,) = self.withheld_communes - before
            changed = True
            for parent in self.piece[c]:
                residual[parent] = residual.get(parent, 0) + self.count[c]
                todo.append(parent)
        return changed

    def spanning_rule(self) -> bool:
        """Withhold each published EPCI whose withheld communes lie in two départements or
        more; True when something was withheld."""
        where: dict[Node, set[Node]] = {}
        for c in self.withheld_communes:
            e, d = self.piece[c]
            where.setdefault(e, set()).add(d)
        spanning = {e for e, deps in where.items() if len(deps) > 1 and self.published(e)}
        self.withheld_nodes |= spanning
        return bool(spanning)

    def departement_rule(self) -> bool:
        """Where a published département's withheld EPCIs hold 1 to seuil − 1 withheld
        demands (or only zeros), withhold its smallest published commune of a withheld EPCI,
        else its smallest published EPCI; True when something was withheld."""
        residual: dict[Node, int] = {}
        for c in self.withheld_communes:
            e, d = self.piece[c]
            if not self.published(e):
                residual[d] = residual.get(d, 0) + self.count[c]
        for d in sorted(residual):
            if not self.published(d) or residual[d] >= self.seuil:
                continue
            inside = self.communes_of[d]
            if self.withhold_smallest_commune(
                c for c in inside if not self.published(self.piece[c][0])
            ):
                return True
            epcis = {self.piece[c][0] for c in inside if self.published(self.piece[c][0])}
            # cannot be empty: with every EPCI and commune of d withheld, d's residual is
            # d's total (>= seuil, d being published)
            self.withheld_nodes.add(min(epcis, key=lambda n: (self.total[n], n[1])))
            return True
        return False


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
    s = _Series(counts, membership, seuil)
    while s.parent_rule() or s.spanning_rule() or s.departement_rule():
        pass
    return Withheld(
        communes=frozenset(s.withheld_communes),
        epcis=frozenset(n[1] for n in s.withheld_nodes if n[0] == "e"),
        departements=frozenset(n[1] for n in s.withheld_nodes if n[0] == "d"),
    )
