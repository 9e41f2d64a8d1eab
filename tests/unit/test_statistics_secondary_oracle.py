"""No published territorial figure, nor any sum or difference of them, gives a withheld
one (secondary secrecy; hub.domain.statistics_secondary).

The oracle knows nothing of the hub's rule. It takes what ``suppress`` leaves published —
each published commune's count (its unit vector over the communes), each published EPCI's
and département's total (the indicator of its communes) — and checks, by exact Gaussian
elimination over the rationals, that none of the sensitive vectors lies in their span (a
vector v is in the span of rows M iff rank(M) == rank(M + v): v reduces to 0 against an
echelon basis of M):

* a withheld commune whose count is under the threshold;
* a withheld EPCI or département whose total is under the threshold;
* per "piece" (the communes of one EPCI in one département) the withheld communes of the
  piece together, when there are some and their total is under the threshold.

It checks too the primary secrecy (every figure under the threshold withheld, a 0
included; no département withheld beyond it), the per-parent rule (a published EPCI or
département holds 0 withheld communes or withheld communes of 11 demands or more) and
determinism. Geographies are drawn by hypothesis: 1-4 départements, 1-6 EPCIs some over
2-3 départements, communes without EPCI, 1-14 communes of counts 0, 1, 10, 11, 12, 100,
1000 and many small ones."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.statistics_secondary import Withheld, suppress

SEUIL = 11

Counts = dict[str, int]
Membership = dict[str, tuple[str | None, str]]
Row = list[Fraction]

# -- the oracle: exact linear algebra, nothing from the module under test -------------------


def _reduce(row: Row, combo: Row, basis: list[tuple[int, Row, Row]]) -> tuple[Row, Row]:
    """``row`` minus its projection on the echelon ``basis``; ``combo`` follows: the
    coefficients, over the published figures, of what was subtracted (sign flipped)."""
    r, k = row[:], combo[:]
    for pivot, b, bk in basis:
        if r[pivot] != 0:
            f = r[pivot]
            r = [a - f * x for a, x in zip(r, b, strict=True)]
            k = [a - f * x for a, x in zip(k, bk, strict=True)]
    return r, k


def _basis(rows: list[Row]) -> list[tuple[int, Row, Row]]:
    """Reduced echelon form of ``rows``: (pivot column, row, combination of the input rows
    that makes it) triples. len(result) is the rank."""
    basis: list[tuple[int, Row, Row]] = []
    for i, row in enumerate(rows):
        unit = [Fraction(int(j == i)) for j in range(len(rows))]
        r, k = _reduce(row, unit, basis)
        pivot = next((c for c, v in enumerate(r) if v != 0), None)
        if pivot is None:
            continue
        p = r[pivot]
        r, k = [v / p for v in r], [v / p for v in k]
        new: list[tuple[int, Row, Row]] = []
        for c, b, bk in basis:
            f = b[pivot]
            if f:
                b = [a - f * x for a, x in zip(b, r, strict=True)]
                bk = [a - f * x for a, x in zip(bk, k, strict=True)]
            new.append((c, b, bk))
        basis = [*new, (pivot, r, k)]
    return basis


def _combination(v: Row, basis: list[tuple[int, Row, Row]], n_rows: int) -> Row | None:
    """The coefficients over the published rows that give ``v``, or None: ``v`` is not in
    their span (rank(M + v) > rank(M))."""
    r, k = _reduce(v, [Fraction(0)] * n_rows, basis)
    if any(r):
        return None
    return [-x for x in k]


def _violations(
    counts: Mapping[str, int],
    membership: Mapping[str, tuple[str | None, str]],
    communes_w: frozenset[str],
    epcis_w: frozenset[str],
    deps_w: frozenset[str],
    seuil: int = SEUIL,
) -> list[str]:
    """Every broken guarantee (1-3 of the contract), in words; [] when there is none."""
    communes = sorted(membership)
    n = {c: counts.get(c, 0) for c in communes}
    epcis: dict[str, list[str]] = {}
    deps: dict[str, list[str]] = {}
    pieces: dict[tuple[str, str], list[str]] = {}
    for c in communes:
        e, d = membership[c]
        deps.setdefault(d, []).append(c)
        if e is not None:
            epcis.setdefault(e, []).append(c)
            pieces.setdefault((e, d), []).append(c)

    def total(cs: list[str]) -> int:
        return sum(n[c] for c in cs)

    out: list[str] = []
    # shape: only territories of the geography
    for name, got, known in (("commune", communes_w, set(communes)), ("EPCI", epcis_w, set(epcis)),
                             ("département", deps_w, set(deps))):  # fmt: skip
        if not isinstance(got, frozenset):
            out.append(f"{name}s withheld: {type(got).__name__}, not a frozenset")
        if not set(got) <= known:
            out.append(f"unknown {name}s withheld: {sorted(set(got) - known)}")

    # 1. primary; départements exactly the primary ones
    out += [f"primary: commune {c} ({n[c]}) published" for c in communes
            if n[c] < seuil and c not in communes_w]  # fmt: skip
    out += [f"primary: EPCI {e} ({total(cs)}) published" for e, cs in epcis.items()
            if total(cs) < seuil and e not in epcis_w]  # fmt: skip
    for d, cs in deps.items():
        if (total(cs) < seuil) != (d in deps_w):
            how = "withheld" if d in deps_w else "published"
            out.append(f"primary: département {d} ({total(cs)}) {how}")

    # 2. per parent
    for kind, parents, withheld in (("EPCI", epcis, epcis_w), ("département", deps, deps_w)):
        for p, cs in parents.items():
            hidden = [c for c in cs if c in communes_w]
            if p not in withheld and hidden and total(hidden) < seuil:
                out.append(f"per parent: {kind} {p} published, its withheld communes "
                           f"{hidden} hold {total(hidden)}")  # fmt: skip

    # 3. no exact disclosure
    def indicator(cs: list[str]) -> Row:
        return [Fraction(int(c in cs)) for c in communes]

    published: list[tuple[str, Row]] = [(f"commune {c}", indicator([c])) for c in communes
                                        if c not in communes_w]  # fmt: skip
    published += [(f"EPCI {e}", indicator(cs)) for e, cs in epcis.items() if e not in epcis_w]
    published += [(f"dép {d}", indicator(cs)) for d, cs in deps.items() if d not in deps_w]
    sensitive: list[tuple[str, int, Row]] = [
        (f"commune {c}", n[c], indicator([c])) for c in communes if c in communes_w and n[c] < seuil
    ]
    sensitive += [(f"EPCI {e}", total(cs), indicator(cs)) for e, cs in epcis.items()
                  if e in epcis_w and total(cs) < seuil]  # fmt: skip
    sensitive += [(f"dép {d}", total(cs), indicator(cs)) for d, cs in deps.items()
                  if d in deps_w and total(cs) < seuil]  # fmt: skip
    for (e, d), cs in pieces.items():
        hidden = [c for c in cs if c in communes_w]
        if hidden and total(hidden) < seuil:
            sensitive.append((f"withheld of piece ({e}, {d}) {hidden}", total(hidden),
                              indicator(hidden)))  # fmt: skip
    # every group of withheld communes (up to 2^10 of them): a sum over fewer than seuil
    # demands, or over communes holding 0, must not come out of any combination either
    # (e.g. a département minus its published EPCIs: the others' total)
    hidden_all = [c for c in communes if c in communes_w]
    if len(hidden_all) <= 10:
        for mask in range(1, 1 << len(hidden_all)):
            group = [c for i, c in enumerate(hidden_all) if mask >> i & 1]
            if len(group) > 1 and total(group) < seuil:
                sensitive.append((f"group {group}", total(group), indicator(group)))
    else:
        # more withheld communes: every union of whole groups of them — the withheld
        # communes of one (EPCI, département) piece, each withheld commune outside any EPCI
        # (review V, V-F4: D minus its published EPCI gave two withheld EPCIs' 7)
        blocks = [[c for c in cs if c in communes_w] for cs in pieces.values()]
        blocks += [[c] for c in hidden_all if membership[c][0] is None]
        blocks = [b for b in blocks if b]
        if len(blocks) <= 12:
            for mask in range(1, 1 << len(blocks)):
                group = [c for i, b in enumerate(blocks) if mask >> i & 1 for c in b]
                if total(group) < seuil:
                    sensitive.append((f"group {group}", total(group), indicator(group)))
    basis = _basis([row for _, row in published])
    for label, value, v in sensitive:
        k = _combination(v, basis, len(published))
        if k is not None:
            terms = " ".join(f"{'+' if x > 0 else '-'}{abs(x)}·[{published[i][0]}]"
                             for i, x in enumerate(k) if x)  # fmt: skip
            out.append(f"disclosed: {label} = {value} = {terms}")
    return out


def _check(counts: Counts, membership: Membership, seuil: int = SEUIL) -> Withheld:
    """Runs ``suppress`` and asserts guarantees 1-4 (and that it leaves its input alone)."""
    before = (dict(counts), dict(membership))
    w = suppress(counts, membership, seuil=seuil)
    assert (dict(counts), dict(membership)) == before, "suppress changed its input"
    problems = _violations(counts, membership, w.communes, w.epcis, w.departements, seuil)
    assert not problems, "\n".join([f"counts={counts!r}", f"membership={membership!r}",
                                    f"withheld={w!r}", *problems])  # fmt: skip
    again = suppress(dict(counts), dict(membership), seuil=seuil)
    assert (again.communes, again.epcis, again.departements) == (
        w.communes, w.epcis, w.departements), "not deterministic"  # fmt: skip
    return w


# -- the oracle catches the attacks it is meant to (primary secrecy only is not enough) ------


def test_the_oracle_sees_the_subtraction_of_the_context() -> None:
    """EPCI 105 = communes 100 + 5, the 5 withheld alone: 105 − 100 gives it."""
    counts = {"a": 100, "b": 5}
    membership: Membership = {"a": ("E", "D"), "b": ("E", "D")}
    problems = _violations(counts, membership, frozenset({"b"}), frozenset(), frozenset())
    assert any(p.startswith("disclosed: commune b = 5 = ") for p in problems), problems
    assert any(p.startswith("per parent: EPCI E") for p in problems), problems
    # and it accepts the obvious safe answer: every commune withheld
    assert _violations(counts, membership, frozenset({"a", "b"}), frozenset(), frozenset()) == []


def test_the_oracle_sees_a_longer_combination() -> None:
    """2×2 cycle, one cell withheld: D1 − commune 12 gives it (and E1 − commune 21)."""
    counts = {"11": 5, "12": 100, "21": 100, "22": 100}
    membership: Membership = {"11": ("E1", "D1"), "12": ("E2", "D1"), "21": ("E1", "D2"),
                              "22": ("E2", "D2")}  # fmt: skip
    only_cell = _violations(counts, membership, frozenset({"11"}), frozenset(), frozenset())
    assert any(p.startswith("disclosed: commune 11 = 5") for p in only_cell), only_cell
    # three cells of the cycle withheld: the marginals still give the 5 (E1 − 21 for one)
    three = _violations(counts, membership, frozenset({"11", "12", "22"}), frozenset(),
                        frozenset())  # fmt: skip
    assert any(p.startswith("disclosed: commune 11 = 5") for p in three), three
    four = _violations(counts, membership, frozenset(counts), frozenset(), frozenset())
    assert four == []  # rank 3 of 4 over the cells: (1, −1, −1, 1) is never seen


# -- generated geographies -------------------------------------------------------------------

#: counts at the edges of the threshold (0, 10, 11, 12), many small, a few large
EDGY = [0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 9, 10, 10, 11, 11, 12, 12, 15, 30, 100, 1000]
#: counts of 11 or more only
LARGE = [11, 12, 13, 20, 100, 1000]


@st.composite
def geographies(draw: st.DrawFn, values: list[int] = EDGY) -> tuple[Counts, Membership]:
    n_communes = draw(st.integers(1, 14))
    n_deps = draw(st.sampled_from([3, 2, 4, 1, 2, 3]))
    deps = [f"{d:02d}" for d in range(1, n_deps + 1)]
    spans: dict[str, list[str]] = {}
    for i in range(draw(st.integers(1, 6))):
        k = min(draw(st.sampled_from([2, 3, 1, 2])), n_deps)  # over 2-3 départements often
        spans[f"2000000{i:02d}"] = draw(
            st.lists(st.sampled_from(deps), min_size=k, max_size=k, unique=True)
        )
    choices: list[str | None] = [*spans, None, *spans]  # a commune without EPCI now and then
    counts: Counts = {}
    membership: Membership = {}
    for c in range(n_communes):
        code = f"76{c:03d}"
        epci = draw(st.sampled_from(choices))
        dep = draw(st.sampled_from(spans[epci] if epci is not None else deps))
        membership[code] = (epci, dep)
        value = draw(st.sampled_from(values))
        if value or draw(st.booleans()):  # a commune of 0 may be missing from counts
            counts[code] = value
    return counts, membership


SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@SETTINGS
@given(geographies())
def test_no_withheld_figure_is_a_combination_of_published_ones(
    geo: tuple[Counts, Membership],
) -> None:
    counts, membership = geo
    w = _check(counts, membership)
    if all(counts.get(c, 0) >= SEUIL for c in membership):
        assert not (w.communes or w.epcis or w.departements), w


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(geographies(), st.sampled_from([1, 2, 5, 20]))
def test_any_threshold(geo: tuple[Counts, Membership], seuil: int) -> None:
    counts, membership = geo
    _check(counts, membership, seuil)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(geographies(LARGE))
def test_nothing_is_withheld_when_every_commune_holds_11_or_more(
    geo: tuple[Counts, Membership],
) -> None:
    counts, membership = geo
    assert set(counts) == set(membership)  # no 0 drawn: every commune is in counts
    w = _check(counts, membership)
    assert (w.communes, w.epcis, w.departements) == (frozenset(), frozenset(), frozenset())


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(geographies())
def test_the_order_of_the_mappings_does_not_matter(geo: tuple[Counts, Membership]) -> None:
    """Same input (equal mappings, other insertion order), same output."""
    counts, membership = geo
    w = suppress(counts, membership, seuil=SEUIL)
    r = suppress(dict(reversed(counts.items())), dict(reversed(membership.items())), seuil=SEUIL)
    assert (w.communes, w.epcis, w.departements) == (r.communes, r.epcis, r.departements)


# -- hand-written cases ----------------------------------------------------------------------


def test_an_epci_of_100_and_5() -> None:
    """The context's case: EPCI 105 = 100 + 5 in one département. The 5 is withheld; the
    100 cannot be published beside the EPCI (105 − 100) nor beside the département, which
    is always published (105 ≥ 11): so the 100 is withheld too."""
    counts = {"76001": 100, "76002": 5}
    membership: Membership = {"76001": ("200000001", "76"), "76002": ("200000001", "76")}
    w = _check(counts, membership)
    assert w.communes == {"76001", "76002"}
    assert w.departements == frozenset()


def test_an_epci_of_100_and_5_beside_a_large_commune() -> None:
    """The same EPCI in a département with another commune of 500 without EPCI: whatever
    is withheld, 605 − 500 − 100 must not give the 5."""
    counts = {"76001": 100, "76002": 5, "76003": 500}
    membership: Membership = {"76001": ("200000001", "76"), "76002": ("200000001", "76"),
                              "76003": (None, "76")}  # fmt: skip
    w = _check(counts, membership)
    assert "76002" in w.communes and w.departements == frozenset()


def test_a_departement_of_a_small_epci_and_a_large_one() -> None:
    """Département 1005 = EPCI a (5 demands: communes of 1, 1, 3) + EPCI b (1000 = 600 +
    400). EPCI a is withheld (5), the département is published (1005), so EPCI a's total
    would be D − EPCI b: EPCI b must be withheld, and its two communes not both published
    (their sum is EPCI b)."""
    counts = {"76001": 1, "76002": 1, "76003": 3, "76004": 600, "76005": 400}
    a, b = "200000001", "200000002"
    membership: Membership = {"76001": (a, "76"), "76002": (a, "76"), "76003": (a, "76"),
                              "76004": (b, "76"), "76005": (b, "76")}  # fmt: skip
    w = _check(counts, membership)
    assert a in w.epcis and b in w.epcis
    assert {"76004", "76005"} & w.communes
    assert w.departements == frozenset()


def test_epcis_over_two_departements_forming_a_cycle() -> None:
    """EPCIs E1 and E2 each over départements 27 and 76: a 2×2 table of pieces whose
    margins (the départements, the EPCIs) are all ≥ 11. Piece (E1, 76) holds 2 + 3
    demands; the other pieces 100 each. 76 − (E2, 76) would give the piece's 5, and
    E1 − (E1, 27) too: the whole cycle must be withheld (or an EPCI with it), and
    neither the 2, the 3 nor their sum may come out."""
    e1, e2 = "200000001", "200000002"
    counts = {"76001": 2, "76002": 3, "76003": 100, "27001": 100, "27002": 100}
    membership: Membership = {"76001": (e1, "76"), "76002": (e1, "76"), "76003": (e2, "76"),
                              "27001": (e1, "27"), "27002": (e2, "27")}  # fmt: skip
    w = _check(counts, membership)
    assert {"76001", "76002", "76003"} <= w.communes
    assert w.departements == frozenset()


def test_a_cycle_with_a_commune_without_epci() -> None:
    """E over départements 27 and 76 (27: 100; 76: 4) and a commune of 50 without EPCI in
    76: 76 = 54 published, E = 104 published; 76 − 50 or E − 100 give the 4."""
    e = "200000001"
    counts = {"76001": 4, "76002": 50, "27001": 100}
    membership: Membership = {"76001": (e, "76"), "76002": (None, "76"), "27001": (e, "27")}
    w = _check(counts, membership)
    assert "76001" in w.communes


def test_a_departement_minus_its_published_epcis() -> None:
    # D = E1 (100, one commune) + E2 (40, one commune) + E3 and E4 empty: publishing D, E1
    # and E2 says that E3 and E4 hold no demand, though each is withheld on its own line
    counts = {"a": 100, "b": 40}
    membership = {"a": ("E1", "76"), "b": ("E2", "76"), "c": ("E3", "76"), "d": ("E4", "76")}
    w = _check(counts, membership)
    assert {"E1", "E2"} & w.epcis


def test_the_oracle_sees_a_departement_minus_its_published_epci() -> None:
    # review V, V-F4: 13 withheld communes (past the commune-by-commune enumeration); D
    # minus E3 is E1 and E2 together, 7 demands: the oracle must say so
    counts = {"a1": 1, "a2": 1, "a3": 1, "b1": 1, "b2": 1, "b3": 1, "b4": 1, "c1": 500,
              "c2": 20}  # fmt: skip
    membership = {f"a{i}": ("E1", "D") for i in range(1, 7)}
    membership |= {f"b{i}": ("E2", "D") for i in range(1, 7)}
    membership |= {"c1": ("E3", "D"), "c2": ("E3", "D")}
    withheld = frozenset(c for c in membership if c != "c1")
    problems = _violations(counts, membership, withheld, frozenset({"E1", "E2"}), frozenset())
    assert any("group" in p for p in problems), problems
    _check(counts, membership)  # and suppress itself withholds enough


def test_an_epci_of_total_0() -> None:
    """An EPCI of 0 demands (one commune at 0, one missing from counts) in a département
    of 50 whose other commune (50) has no EPCI: the EPCI is withheld (0 < 11, a 0 is a
    figure too), and the commune of 50 with it, or 50 − 50 gives the EPCI's 0."""
    e = "200000001"
    counts = {"76001": 0, "76003": 50}
    membership: Membership = {"76001": (e, "76"), "76002": (e, "76"), "76003": (None, "76")}
    w = _check(counts, membership)
    assert e in w.epcis and {"76001", "76002", "76003"} <= w.communes
    assert w.departements == frozenset()


def test_a_small_departement_is_withheld_and_only_it() -> None:
    """Département 27 holds 7 demands (withheld, primary); 76 holds 1000 (published)."""
    counts = {"27001": 7, "76001": 1000}
    membership: Membership = {"27001": (None, "27"), "76001": (None, "76")}
    w = _check(counts, membership)
    assert w.departements == {"27"} and w.communes == {"27001"}


def test_a_membership_changed_in_place_is_read_again() -> None:
    # review V, V-F2: the layout was remembered by the mapping's id: a dict changed in place
    # between two calls gave a KeyError, or a decision over its former EPCIs
    m = {"a": ("E", "D")}
    suppress({"a": 20}, m)
    m["b"] = ("E", "D")
    assert {"a", "b"} <= suppress({"a": 100, "b": 5}, m).communes
    m = {"a": ("E", "D"), "b": ("F", "D"), "c": ("F", "D")}
    suppress({"a": 100, "b": 100, "c": 100}, m)
    m["b"] = ("E", "D")
    counts = {"a": 100, "b": 5, "c": 100}
    assert suppress(counts, m) == suppress(counts, dict(m))
