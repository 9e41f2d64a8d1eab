"""``hub gp``: the gestion partagée catalogue (``refresh-catalogue``, ``catalogue``)."""

from __future__ import annotations

import json

import click

from hub.cli.api import _settings
from hub.core.db import make_engine, migrate


@click.group("gp")
def gp() -> None:
    """Gestion partagée: the versioned catalogue of event types."""


@gp.command("refresh-catalogue")
@click.option(
    "--territoire",
    "territories",
    multiple=True,
    help="Territory (3 chars, e.g. 076) whose territorial types to fetch; "
    "repeatable. Default: the departments of sne.poll_communes.",
)
@click.option("--version", default=None, help="Version name (default: sne-<timestamp>).")
def refresh_catalogue(territories: tuple[str, ...], version: str | None) -> None:
    """Fetch the event types from the configured SNE and save a new catalogue version."""
    from connectors.sne.catalogue import refresh_catalogue as refresh
    from connectors.sne.client import SneClient
    from hub.stores.gp.store import GPStore

    settings = _settings()
    if not territories:
        territories = tuple(sorted({f"0{c[:2]}" for c in settings.sne.poll_communes}))
    engine = make_engine(settings.database_url)
    migrate(engine)
    catalogue, saved = refresh(
        SneClient(settings.sne),
        GPStore(engine),
        territories,
        version=version,
        source=f"sne:{settings.sne.url}"[:200],
    )
    state = "saved" if saved else "unchanged, in force"
    click.echo(f"catalogue {catalogue.version} ({len(catalogue.types)} types) {state}")


@gp.command("catalogue")
def show_catalogue() -> None:
    """Print the catalogue in force (JSON)."""
    from hub.stores.gp.store import GPStore

    engine = make_engine(_settings().database_url)
    migrate(engine)
    click.echo(
        json.dumps(
            GPStore(engine).catalogue().model_dump(mode="json"), indent=1, ensure_ascii=False
        )
    )
