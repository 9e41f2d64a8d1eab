"""bench.owed counts what a W4 scenario owes with the hub's matching; the ledger's
``in_scope`` (reliability.ledger, written apart from hub.domain.matching) must agree."""

from __future__ import annotations

from collections import Counter

from bench.owed import owed, stock_wishes
from bench.w4 import W4Config, scenario_actors
from hub.domain.geo import Geography
from reliability.ledger import in_scope


def test_the_copies_owed_agree_with_the_ledgers_own_matching(geography: Geography) -> None:
    cfg = W4Config(stock=1200, chunk=400)
    wishes = stock_wishes(cfg, geography)
    assert 1150 < len(wishes) <= 1200  # the latest draw of a numéro, as the worker keeps it
    actors = scenario_actors(cfg, geography)
    for scenario in ("bulk2000", "bulk20", "one_percent"):
        got = owed(actors[scenario], wishes, geography)
        expected: Counter[str] = Counter()
        for communes, typologies in wishes.values():
            for a in actors[scenario]:
                if in_scope(a, communes, typologies, geography):
                    expected[a.id] += 1
        assert got == expected, scenario
        assert sum(got.values()) > 0, scenario
