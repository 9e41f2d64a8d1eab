"""``hub actors ...``: manage the actor registry (import, add, list, show, remove, publish).

Every change goes through :class:`hub.stores.registry.service.ActorService` (validate, store,
publish), built by :func:`hub.cli.context.build_actor_service`. Errors of the hub become
one-line messages and exit status 1, never tracebacks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, get_args

import click
from rich.console import Console

from hub.cli import context, error_message
from hub.cli.textout import Col, print_table
from hub.core.errors import HubError
from hub.core.settings import HubSettings, get_settings
from hub.domain.actors import Actor, ActorFilters, ActorKind, Channel, Profile
from hub.stores.registry.importer import parse_actor
from hub.stores.registry.service import ActorService

P = ParamSpec("P")
R = TypeVar("R")


def _one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HubError as exc:
            # as the hub's CLI says it (an unreachable broker: where, and how to start it)
            raise click.ClickException(error_message(exc) or exc.message) from exc

    return wrapper


def _service() -> ActorService:
    # the main CLI may put its settings in the context; otherwise read the environment
    ctx = click.get_current_context()
    settings = ctx.find_object(HubSettings) or get_settings()
    return context.build_actor_service(settings)


def _territory(f: ActorFilters) -> str:
    def codes(label: str, values: list[str]) -> str:
        shown = ", ".join(values[:3])
        return f"{label} {shown}" + (f" +{len(values) - 3}" if len(values) > 3 else "")

    parts = [
        codes(label, values)
        for label, values in (("communes", f.communes), ("EPCI", f.epcis), ("dép.", f.departements))
        if values
    ]
    if f.typologies:
        parts.append("/".join(f.typologies))
    if f.premier_choix_seulement:
        parts.append("1er choix")
    return "; ".join(parts) or "(none: matches nothing)"


def _writes(actor: Actor) -> str:
    """The write right as listed: ``yes``/``no``, ``(kind)`` when it is the kind's default."""
    said = "yes" if actor.writes_demands else "no"
    return said if actor.enregistreur is not None else f"{said} (kind)"


@click.group("actors")
def actors() -> None:
    """Manage the actors that receive demands (the registry is the source of truth)."""


@actors.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_one_line_errors
def import_cmd(file: Path) -> None:
    """Add or update the actors of a YAML FILE (all or nothing; others are left as they are)."""
    report = _service().import_file(file)
    click.echo(f"{file}: {report}")


@actors.command("add")
@click.option("--id", "actor_id", required=True, help="Lowercase id, e.g. rouen-habitat.")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(get_args(ActorKind)))
@click.option(
    "--profile",
    default="consultant_simple",
    show_default=True,
    type=click.Choice(get_args(Profile)),
)
@click.option("--commune", multiple=True, help="INSEE commune code (repeatable).")
@click.option("--epci", multiple=True, help="EPCI SIREN (repeatable).")
@click.option("--departement", multiple=True, help="Département code (repeatable).")
@click.option("--typologie", multiple=True, help="C, T1 ... T6P (repeatable; none = all).")
@click.option(
    "--premier-choix-seulement",
    is_flag=True,
    help="Only demands whose first choice is in the territory.",
)
@click.option(
    "--enregistreur/--no-enregistreur",
    default=None,
    help="Writes demands (a registering office: CRE, MOD, REN, RAD, SUP). "
    "Default: by kind (yes for bailleur and guichet, no for the others).",
)
@click.option("--channel", default="kafka", show_default=True, type=click.Choice(get_args(Channel)))
@click.option(
    "--url",
    default=None,
    help="Receiver URL of a webhook or soap channel: https (http only on the loopback).",
)
@_one_line_errors
def add_cmd(
    actor_id: str,
    name: str,
    kind: str,
    profile: str,
    commune: tuple[str, ...],
    epci: tuple[str, ...],
    departement: tuple[str, ...],
    typologie: tuple[str, ...],
    premier_choix_seulement: bool,
    enregistreur: bool | None,
    channel: str,
    url: str | None,
) -> None:
    """Add an actor, or replace the registration of an existing one."""
    actor = parse_actor(
        {
            "id": actor_id,
            "name": name,
            "kind": kind,
            "profile": profile,
            "filters": {
                "communes": list(commune),
                "epcis": list(epci),
                "departements": list(departement),
                "typologies": list(typologie),
                "premier_choix_seulement": premier_choix_seulement,
            },
            "delivery": {"channel": channel, "options": {} if url is None else {"url": url}},
            "enregistreur": enregistreur,
        },
        "actor",
    )
    saved = _service().add_or_update(actor)
    if saved.change == "resend":
        click.echo(f"unchanged {saved.actor.id} (version {saved.actor.version}), "
                   "re-sent to Kafka: the last attempt had not reached it")  # fmt: skip
        return
    verb = {"add": "added", "update": "updated", None: "unchanged"}[saved.change]
    click.echo(f"{verb} {saved.actor.id} (version {saved.actor.version})")


@actors.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one actor per line.",
)
@click.option("--include-deleted", is_flag=True, help="Also list removed actors.")
@_one_line_errors
def list_cmd(fmt: str, include_deleted: bool) -> None:
    """List the registered actors, by id (and, on stderr, those Kafka has not acknowledged:
    saved while it was unreachable)."""
    store = _service().store
    found = store.list(include_deleted)
    if fmt == "json":
        for actor in found:
            click.echo(json.dumps(actor.model_dump(mode="json"), ensure_ascii=False))
        return
    if not found:
        click.echo("no actors registered (hub actors import FILE.yaml)", err=True)
        return
    # ids are what people copy into other commands: never wrapped nor cut; at 80 columns
    # or in a pipe, the table becomes one block per actor (hub/cli/textout.py)
    print_table(
        Console(),
        [
            Col("id"),
            Col("name", wrap=True, min_width=12),
            Col("kind"),
            Col("profile"),
            Col("writes"),
            Col("territory", wrap=True, min_width=16),
            Col("version", justify="right"),
        ],
        [
            [a.id, a.name, a.kind, a.profile, _writes(a), _territory(a.filters), str(a.version)]
            for a in found
        ],
    )
    pending = [s.actor.id + (" (removal)" if s.deleted else "") for s in store.unpublished()]
    if pending:
        shown = ", ".join(pending[:5]) + (
            f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        )
        click.echo(f"not yet on Kafka (the workers do not know them): {shown}", err=True)
        click.echo("  hub actors publish", err=True)


@actors.command("show")
@click.argument("actor_id", metavar="ID")
@click.option("--history", is_flag=True, help="Print the changes instead, one JSON per line.")
@_one_line_errors
def show_cmd(actor_id: str, history: bool) -> None:
    """Print an actor as JSON."""
    store = _service().store
    if not history:
        click.echo(
            json.dumps(store.get(actor_id).model_dump(mode="json"), indent=2, ensure_ascii=False)
        )
        return
    for ch in store.history(actor_id):
        record: dict[str, Any] = {
            "seq": ch.seq,
            "version": ch.version,
            "change": ch.change,
            "at": ch.at.isoformat(),
            "actor": ch.actor.model_dump(mode="json"),
        }
        click.echo(json.dumps(record, ensure_ascii=False))


@actors.command("remove")
@click.argument("actor_id", metavar="ID")
@_one_line_errors
def remove_cmd(actor_id: str) -> None:
    """Remove an actor (kept in the history; adding the id again continues its versions).

    Every active demand it holds is withdrawn on its feed (RETRAIT filtres_modifies);
    records it already read cannot be recalled; its API keys are revoked, registered
    again it needs new ones (docs/operations.md, "Removing an actor")."""
    removed = _service().remove(actor_id)
    click.echo(f"removed {removed.id} (version {removed.version}); its API keys are revoked")


@actors.command("publish")
@_one_line_errors
def publish_cmd() -> None:
    """Re-send every actor to Kafka (after a failed publication; harmless otherwise)."""
    count = _service().republish_all()
    click.echo(f"published {count} actor(s)")
