"""``hub stack up|down|status``: the local development stack (Kafka, optionally PostgreSQL).

Everything comes from :func:`hub.core.settings.get_settings`: ``home`` (``HUB_HOME``, else the
nearest ``.hub`` from the current folder upward, else ``./.hub``: :mod:`hub.core.home`;
``status`` prints which one, first) and ``stack.*`` (``HUB_STACK__KAFKA_PORT`` ...).
PostgreSQL listens on ``HUB_STACK__POSTGRES_PORT`` (default 25432, the URL the tests
expect). ``up --secure`` runs the broker with SASL_SSL + ACLs instead
(:mod:`hub.cli.stack_secure`, docs/kafka-security.md); status and down recognise it.
Output is one line per action; failures are one-line
:class:`click.ClickException` messages, never tracebacks.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import click

from hub.core.errors import HubError
from hub.core.settings import get_settings
from hub.dev.stack.kafka import KafkaStack
from hub.dev.stack.postgres import PostgresStack
from hub.dev.stack.registry import VERSION as REGISTRY_VERSION
from hub.dev.stack.registry import RegistryStack
from hub.dev.stack.tls import TlsKafkaStack

_with_postgres = click.option(
    "--with-postgres",
    is_flag=True,
    help="Also act on the PostgreSQL server (HUB_STACK__POSTGRES_PORT).",
)
_with_registry = click.option(
    "--with-registry",
    is_flag=True,
    help="Also act on the Confluent-compatible schema registry (Apicurio, "
    "HUB_STACK__REGISTRY_PORT; docs/consumers.md).",
)


def _kafka() -> KafkaStack:
    settings = get_settings()
    conf = settings.stack
    return KafkaStack(
        settings.home,
        version=conf.kafka_version,
        port=conf.kafka_port,
        controller_port=conf.controller_port,
        heap=conf.kafka_heap,
    )


def _registry() -> RegistryStack:
    return RegistryStack(get_settings().home, port=get_settings().stack.registry_port)


def _postgres() -> PostgresStack:
    settings = get_settings()
    return PostgresStack(settings.home, port=settings.stack.postgres_port)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn the hub's own errors and OS errors (permissions, disk) into one-line messages."""
    try:
        yield
    except (HubError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _stop_on_interrupt() -> Iterator[None]:
    """Ctrl-C while ``up`` waits for a service: stop what this command was starting (a
    broker left to finish its start-up behind the user's back would hold the port and
    the data), say so, exit 130 as shells expect after SIGINT."""
    try:
        yield
    except KeyboardInterrupt:
        click.echo("interrupted: stopping what was being started", err=True)
        for name, service in (("kafka", _kafka()), ("postgres", _postgres()),
                              ("registry", _registry())):  # fmt: skip
            with suppress(Exception):
                if service.down():
                    click.echo(f"{name}: stopped", err=True)
        raise click.exceptions.Exit(130) from None


@click.group("stack")
def stack() -> None:
    """Run the local development stack: a Kafka broker, and on request PostgreSQL
    (--with-postgres) and a Confluent-compatible schema registry (--with-registry)."""


@stack.command()
@_with_postgres
@_with_registry
@click.option(
    "--timeout", default=90.0, show_default=True, help="Seconds to wait for each service to answer."
)
@click.option(
    "--secure",
    is_flag=True,
    help="Kafka with SASL_SSL + ACLs (generated CA; credentials in <home>/kafka/secure.env).",
)
def up(with_postgres: bool, with_registry: bool, timeout: float, secure: bool) -> None:
    """Start the stack (fetches the Kafka jars with Maven on first use). Idempotent."""
    from hub.cli.stack_secure import refuse_other_mode, secure_up

    with _one_line_errors(), _stop_on_interrupt():
        kafka = _kafka()
        if not kafka.has_jars:
            click.echo(f"kafka: fetching Kafka {kafka.version} jars with Maven...")
            kafka.fetch_jars()
        if secure:
            for line in secure_up(get_settings(), timeout):
                click.echo(line)
        else:
            refuse_other_mode(kafka, "plain")
            bootstrap = kafka.up(timeout=timeout)
            click.echo(
                f"kafka: up at {bootstrap} (pid {kafka.status().pid}, logs {kafka.logs_dir})"
            )
        if with_postgres:
            pg = _postgres()
            click.echo(f"postgres: up at {pg.up(timeout=timeout)} (data {pg.data_dir})")
        if with_registry:
            reg = _registry()
            if not reg.is_built:
                click.echo(f"registry: building Apicurio Registry {REGISTRY_VERSION} with Maven...")
            url = reg.up(timeout=timeout)
            # the setting to copy on its own line (docs/consumers.md)
            click.echo(f"registry: up at {url}; point the hub at it with:")
            click.echo(f"  export HUB_REGISTRY__URL={url}")


@stack.command()
@_with_postgres
@_with_registry
@click.option("--wipe", is_flag=True, help="Also delete the data (topics, offsets, tables).")
def down(with_postgres: bool, with_registry: bool, wipe: bool) -> None:
    """Stop the stack: the broker, and PostgreSQL and the schema registry when they run
    (the flags only report them when they do not). Idempotent."""
    from hub.cli.stack_secure import tls_stack

    with _one_line_errors():
        pg, reg = _postgres(), _registry()
        stop_postgres = with_postgres or pg.status().running
        stop_registry = with_registry or reg.status().running
        kafka = _kafka()
        click.echo("kafka: stopped" if kafka.down() else "kafka: was not running")
        if wipe:
            kafka.wipe()
            click.echo(f"kafka: data wiped ({kafka.data_dir})")
            secure = tls_stack(get_settings())
            if secure.data_dir.is_dir():  # the secure broker's (CA and secure.env kept)
                secure.wipe()
                click.echo(f"kafka: data wiped ({secure.data_dir})")
            # the workers' local state (RocksDB tables) belongs to the wiped broker
            shutil.rmtree(get_settings().home / "faust", ignore_errors=True)
        if stop_postgres:
            click.echo("postgres: stopped" if pg.down() else "postgres: was not running")
            if wipe and with_postgres:  # its data only when asked for by name
                pg.wipe()
                click.echo(f"postgres: data wiped ({pg.data_dir})")
        if stop_registry:  # in-memory: stopping it forgets its schemas
            click.echo("registry: stopped" if reg.down() else "registry: was not running")


@stack.command()
@_with_postgres
@_with_registry
@click.pass_context
def status(ctx: click.Context, with_postgres: bool, with_registry: bool) -> None:
    """Show the hub's home and what runs: the broker, and PostgreSQL and the schema
    registry when they run or are asked for. Exit code 3 when the broker or a service
    asked for is not running (as pg_ctl)."""
    with _one_line_errors():
        from hub.cli.stack_secure import running_mode, tls_stack
        from hub.core.home import describe_home

        click.echo(f"home: {describe_home(get_settings())}")

        kafka = _kafka()
        if running_mode(kafka) == "secure":  # same pid file and config path, other data
            kafka = tls_stack(get_settings())
        k = kafka.status()
        all_up = k.running
        state = f"running (pid {k.pid}) at {k.bootstrap}" if k.running else "stopped"
        if k.running and isinstance(kafka, TlsKafkaStack):
            state += f", SASL_SSL + ACLs (credentials: {kafka.env_file})"
        click.echo(f"kafka: {state}; data {k.data_dir}")
        p = _postgres().status()
        if with_postgres or p.running:
            all_up = all_up and p.running
            state = f"running (pid {p.pid}) at {p.url}" if p.running else "stopped"
            click.echo(f"postgres: {state}; data {p.data_dir}")
        r = _registry().status()
        if with_registry or r.running:
            all_up = all_up and r.running
            click.echo(
                f"registry: running (pid {r.pid}) at {r.url}" if r.running else "registry: stopped"
            )
    if not all_up:
        ctx.exit(3)
