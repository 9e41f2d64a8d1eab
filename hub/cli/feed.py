"""``hub feed ACTOR``: print an actor's feed, decoded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import click

from hub.feeds import read_feed
from hub.settings import get_settings


def _line(rec: dict[str, Any]) -> str:
    commune = ""
    lr = ((rec.get("demande") or {}).get("demandeLogement") or {}).get("logementRecherche") or {}
    locs = lr.get("listeLocalisationSouhaite") or []
    if locs:
        commune = f" communes={','.join(loc['commune'] for loc in locs)}"
    reason = f" reason={rec['reason']}" if rec.get("reason") else ""
    return (
        f"{rec['_offset']:>8} {rec['kind']:<9} {rec['numUnique']} {rec['operation']} "
        f"v{rec['demandeVersion']}{reason}{commune}"
    )


@click.command()
@click.argument("actor_id")
@click.option("--from-beginning", is_flag=True, help="Start at the first record, not at new ones.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N records.")
@click.option("--idle-timeout", type=float, help="Stop when nothing arrives for S seconds.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def feed(
    actor_id: str, from_beginning: bool, limit: int | None, idle_timeout: float | None, fmt: str
) -> None:
    """Print ACTOR_ID's feed (one line per record; --format json: one JSON object per line)."""

    async def run() -> None:
        async for rec in read_feed(
            get_settings(),
            actor_id,
            from_beginning=from_beginning,
            limit=limit,
            idle_timeout_s=idle_timeout,
        ):
            if fmt == "json":
                rec.pop("_offset", None)
                click.echo(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
            else:
                click.echo(_line(rec))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
