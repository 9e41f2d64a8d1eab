"""An actor with no territory is refused at registration, in one line (independent audit
P, F5: ``hub actors add X --typologie T2`` was accepted and received nothing, silently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.core.db import make_engine, migrate
from hub.core.errors import InputError
from hub.domain.actors import Actor, ActorFilters
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore


def _service(tmp_path: Path, geography: Any) -> ActorService:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    return ActorService(ActorStore(engine), geography, publisher=None)


@pytest.mark.parametrize("filters", [ActorFilters(), ActorFilters(typologies=["T2"]),
                                     ActorFilters(premier_choix_seulement=True)])
def test_no_territory_is_refused_and_nothing_is_saved(tmp_path: Path, geography: Any,
                                                     filters: ActorFilters) -> None:  # fmt: skip
    service = _service(tmp_path, geography)
    with pytest.raises(InputError, match="no territory") as refused:
        service.add_or_update(Actor(id="x", name="x", kind="bailleur", filters=filters))
    assert refused.value.code == "no_territory"
    assert [s.actor.id for s in service.store.states()] == []
    path = tmp_path / "actors.yaml"
    path.write_text("actors:\n  - id: y\n    name: y\n    kind: bailleur\n    filters:\n"
                    "      typologies: [T2]\n  - id: z\n    name: z\n    kind: bailleur\n"
                    "    filters:\n      communes: ['76540']\n")  # fmt: skip
    with pytest.raises(InputError, match=r"'y'.*no territory"):
        service.import_file(path)
    assert [s.actor.id for s in service.store.states()] == []  # the whole file or nothing


def test_any_territory_is_enough(tmp_path: Path, geography: Any) -> None:
    service = _service(tmp_path, geography)
    for i, f in enumerate([ActorFilters(communes=["76540"]), ActorFilters(epcis=["200023414"]),
                           ActorFilters(departements=["76"], typologies=["T2"])]):  # fmt: skip
        service.add_or_update(Actor(id=f"a{i}", name="a", kind="bailleur", filters=f))
