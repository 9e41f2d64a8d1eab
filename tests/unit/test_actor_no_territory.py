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


def test_hub_actors_add_without_territory_is_one_line(tmp_path: Path) -> None:
    """The command a newcomer types (`--typologie T2` and no territory option): exit 1, one
    line on stderr, no traceback, nothing saved; no broker needed (refused before)."""
    import os
    import subprocess

    from tests.unit.test_publish_cli import _hub

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_HOME"] = str(tmp_path / "home")
    add = [*_hub(), "actors", "add", "--id", "nt-x", "--name", "X", "--kind", "bailleur",
           "--typologie", "T2"]  # fmt: skip
    res = subprocess.run(add, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        "Error: actor 'nt-x': filters: no territory (communes, epcis or departements): "
        "it would receive no demand"]  # fmt: skip
    listed = subprocess.run([*_hub(), "actors", "list"], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert "nt-x" not in listed.stdout
