"""``hub api`` (serve the partners' REST API), ``hub actors api-key ACTOR``,
``hub actors webhook-key ACTOR``, ``hub deliver`` (webhook delivery) and ``hub audit``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from hub.cli.actors import actors
from hub.core.db import make_engine, migrate
from hub.core.db_lock import ProcessLock, keep
from hub.core.errors import ConfigError
from hub.core.settings import HubSettings, get_settings
from monitoring.serve import metrics_port_option, serve_metrics


def _settings() -> HubSettings:
    ctx = click.get_current_context()
    return ctx.find_object(HubSettings) or get_settings()


@click.command("api")
@click.option("--host", default=None, help="Bind address (default: settings, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: settings, 8080).")
@metrics_port_option
def api(host: str | None, port: int | None, metrics_port: int | None) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) until SIGTERM/SIGINT.
    Gestion partagée events stored but not acknowledged by Kafka are published at startup
    and every api.republish_interval_s (gauge passerelle_gp_unpublished_events)."""
    from connectors.shape import ServedApp, run_until_signal
    from hub.api.app import create_app

    settings = _settings()
    settings.private_dir(settings.home)  # before the app creates it with the umask's mode
    app = create_app(settings)
    serve_metrics(metrics_port, settings.monitoring.web_host, "api")
    # the REST ingress, one connector shape: served until stop, requests in flight end
    run_until_signal(
        ServedApp(
            "rest_api",
            "api",
            app,
            host or settings.api.host,
            port or settings.api.port,
            log_level="info",
        )
    )


@actors.command("api-key")
@click.argument("actor_id", metavar="ACTOR")
@click.option("--revoke", "revoke_id", default=None, help="Revoke this key id instead.")
def api_key(actor_id: str, revoke_id: str | None) -> None:
    """Create an API key for ACTOR; the key is printed once and only its hash is kept."""
    from hub.stores.access.keys import KeyStore

    settings = _settings()
    settings.private_dir(settings.home)
    engine = make_engine(settings.database_url)
    migrate(engine)
    store = KeyStore(engine)
    if revoke_id is not None:
        store.revoke(revoke_id)
        click.echo(f"revoked {revoke_id}")
        return
    new = store.create(actor_id)
    click.echo(new.key)
    click.echo(f"key id {new.key_id} for {actor_id}: store it now, it is not shown again", err=True)


@click.group("audit", invoke_without_command=True)
@click.option("--num-unique", default=None, help="Deliveries of this demand.")
@click.option("--actor", "actor_id", default=None, help="Deliveries to this actor.")
@click.option("--limit", type=int, default=1000, show_default=True)
@click.pass_context
def audit(ctx: click.Context, num_unique: str | None, actor_id: str | None, limit: int) -> None:
    """Print deliveries of personal data (one JSON per line), by demand and/or actor.
    ``hub audit record`` records the deliveries made on the Kafka feeds."""
    from hub.stores.audit.store import AuditStore

    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    for entry in AuditStore(engine).query(num_unique=num_unique, actor_id=actor_id, limit=limit):
        click.echo(json.dumps(entry.to_json()))


@actors.command("webhook-key")
@click.argument("actor_id", metavar="ACTOR")
def webhook_key(actor_id: str) -> None:
    """Print the HMAC key ACTOR uses to check webhook signatures: 64 hex characters
    encoding the 32-byte key (decode them: docs/api.md, "Checking the signature")."""
    from connectors.outbound.webhook import actor_key

    settings = _settings()
    click.echo(actor_key(settings.api.webhook_secret.get_secret_value(), actor_id).hex())


@click.command("deliver")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option(
    "--interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between reads of the registry and checks of each actor's "
    "outbox (new feed records wake an actor at once).",
)
@metrics_port_option
def deliver(once: bool, interval: float, metrics_port: int | None) -> None:
    """Push feeds to the actors whose delivery channel is webhook or soap (outbox, retries),
    each actor on its own (docs/api.md, "Delivery channels")."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from connectors.outbound.pump import FeedPump
    from connectors.outbound.service import PushService
    from connectors.outbound.soap import SoapDelivery
    from connectors.outbound.webhook import WebhookDelivery
    from connectors.shape import run_until_signal
    from hub.core.errors import TransientError
    from hub.stores.audit.store import AuditStore
    from hub.stores.delivery.outbox import Outbox
    from hub.stores.registry.store import ActorStore

    settings = _settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    outbox, audit_store = Outbox(engine), AuditStore(engine)
    channels = [
        WebhookDelivery(settings, outbox, audit_store),
        SoapDelivery(settings, outbox, audit_store),
    ]
    serve_metrics(metrics_port, settings.monitoring.web_host, "deliver")

    async def round_once() -> int:
        try:
            actors = ActorStore(engine).list()
            return sum(await asyncio.gather(*(c.run_once(actors) for c in channels)))
        except (TransientError, OperationalError, InterfaceError) as exc:
            # nothing is lost (the outbox is only marked after the answer)
            raise TransientError(f"delivery round failed: {type(exc).__name__}") from None

    # one deliverer per database: a second would send every record twice (hub.core.db_lock)
    lock = ProcessLock(engine, "deliver", "hub deliver")
    lock.acquire()
    try:
        if once:
            click.echo(f"{asyncio.run(round_once())} record(s) delivered")
            return
        service = PushService(
            settings,
            channels,
            FeedPump(settings, outbox),
            interval=interval,
            list_actors=ActorStore(engine).list,
        )
        # outages (database, broker) are retried inside, per actor: the service stops only
        # on SIGTERM or SIGINT (run_until_signal), letting the actors' requests in flight
        # end, or when another deliverer took the lock (a database restart drops it)
        guarded = _Guarded(service, lock)
        run_until_signal(guarded)
        if guarded.lost is not None:
            raise guarded.lost
    finally:
        lock.release()


class _Guarded:
    """``service`` run with its :class:`ProcessLock` checked beside it (:func:`keep`)."""

    def __init__(self, service: Any, lock: ProcessLock) -> None:
        self.service, self.lock = service, lock
        self.name, self.section, self.stats = service.name, service.section, service.stats
        self.lost: ConfigError | None = None

    async def run(self, stop: asyncio.Event) -> None:
        watch = asyncio.create_task(keep(self.lock, stop))
        try:
            await self.service.run(stop)
        finally:
            stop.set()
            self.lost = await watch


COMMANDS = (api, audit, deliver)
