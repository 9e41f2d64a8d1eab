"""``hub sne-simulator`` and ``hub soap-gateway``: the SNE's SOAP services, simulated or
relayed by the hub (docs/connectors-soap.md)."""

from __future__ import annotations

import click

from hub.core.settings import get_settings
from monitoring.serve import metrics_port_option, serve_metrics


@click.command("sne-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="Default: settings sne.simulator_port (8790).")
@click.option("--db-url", help="SQLAlchemy URL of the store. Default: <home>/sne-simulator.db.")
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Most demands a search answers; beyond, the anomaly TROPRESULT.",
)
def sne_simulator(host: str, port: int | None, db_url: str | None, max_results: int) -> None:
    """Serve a simulated SNE (the three services, ?wsdl) until stopped."""
    import uvicorn

    from connectors.sne.server import public_base
    from hub.dev.sne_simulator import create_app

    settings = get_settings()
    url = db_url or f"sqlite:///{(settings.home / 'sne-simulator.db').resolve()}"
    port = port or settings.sne.simulator_port
    base = public_base(settings.sne.simulator_public_url, host, port)
    app = create_app(url, base, max_results=max_results)
    click.echo(
        f"SNE simulator on http://{host}:{port}/sne/DemandeLogementImplService?wsdl "
        f"(WSDL address {base}/<Service>)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


@click.command("soap-gateway")
@click.option("--host", help="Default: settings sne.gateway_host (127.0.0.1).")
@click.option("--port", type=int, help="Default: settings sne.gateway_port (8791).")
@metrics_port_option
def soap_gateway(host: str | None, port: int | None, metrics_port: int | None) -> None:
    """Serve the SNE-shaped services for ERPs, relayed to settings sne.url, until stopped
    (SIGTERM or Ctrl-C)."""
    from connectors.shape import ServedApp, run_until_signal
    from connectors.sne.gateway import create_app
    from connectors.sne.server import public_base
    from hub.core.errors import ConfigError

    settings = get_settings()
    if not settings.sne.configured:
        raise ConfigError("no SNE configured: set HUB_SNE__URL, the SNE the gateway relays to")
    host, port = host or settings.sne.gateway_host, port or settings.sne.gateway_port
    base = public_base(settings.sne.gateway_public_url, host, port)
    serve_metrics(metrics_port, settings.monitoring.web_host, "soap-gateway")
    click.echo(
        f"SOAP gateway on http://{host}:{port}/sne/<Service>?wsdl -> {settings.sne.url} "
        f"(WSDL address {base}/<Service>)"
    )
    run_until_signal(
        ServedApp("sne_gateway", "sne", create_app(settings, public_url=base), host, port)
    )


@click.command("sne-poll")
@click.option("--once", is_flag=True, help="One pass, then exit (default: loop).")
@click.option(
    "--interval", type=float, default=300.0, show_default=True, help="Seconds between two passes."
)
@metrics_port_option
def sne_poll(once: bool, interval: float, metrics_port: int | None) -> None:
    """Capture the SNE's changes in the hub's territory and publish CRE/MOD/REN/RAD, and
    SUP for a demand the SNE no longer knows. With --once, exit status 1 when the pass was
    incomplete (deletions held back, a search day above the SNE's limit: on stderr)."""
    import asyncio

    from connectors.ingress.publishing import PreparedEvent, publish_events
    from connectors.shape import run_until_signal
    from connectors.sne.client import SneClient
    from connectors.sne.poller import PollReport, SnePoller
    from hub.core.db import make_engine, migrate
    from hub.core.errors import ConfigError

    settings = get_settings()
    if not settings.sne.configured:
        raise ConfigError("no SNE configured: set HUB_SNE__URL, the SNE to poll")
    if not settings.sne.poll_communes:
        raise ConfigError("set HUB_SNE__POLL_COMMUNES (JSON list of INSEE codes) to poll the SNE")
    engine = make_engine(settings.database_url)
    migrate(engine)
    serve_metrics(metrics_port, settings.monitoring.web_host, "sne-poll")

    async def publish(events: list[PreparedEvent]) -> int:
        return await publish_events(settings, events)

    def echo(report: PollReport) -> None:
        click.echo(
            f"published {len(report.published)}, unchanged {report.unchanged}, "
            f"refused {report.refused}, deleted {report.deleted}"
        )

    poller = SnePoller(
        settings.sne, SneClient(settings.sne), engine, publish, interval=interval, on_pass=echo
    )
    if once:
        report = asyncio.run(poller.pass_once())
        echo(report)
        for line in report.incomplete:  # the rest of the pass was done: say what was not
            click.echo(f"incomplete: {line}", err=True)
        if report.incomplete:
            raise click.exceptions.Exit(1)
        return
    run_until_signal(poller)
