"""``hub stats``: territorial statistics under statistical secrecy (docs/statistics.md).

* ``hub stats fold``: the fold of hub.demandes into the facts table, until SIGTERM/SIGINT
  (:class:`hub.services.statistics_fold.StatisticsFold`).
* ``hub stats show --niveau departement --code 76 [--json|--csv]``: the figures of a
  territory; any figure on fewer than 11 demands is shown ``secret (< 11)`` (text),
  ``< 11`` (CSV) or ``null`` with ``"secret": true`` (JSON).
"""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings, get_settings
from monitoring.serve import metrics_port_option, serve_metrics


def _settings() -> HubSettings:
    ctx = click.get_current_context()
    return ctx.find_object(HubSettings) or get_settings()


@click.group()
def stats() -> None:
    """Territorial statistics (stock, new, radiated, attributions) under secrecy."""


@stats.command("fold")
@click.option("--group", default=None, help="Consumer group (default: statistics.group).")
@metrics_port_option
def fold(group: str | None, metrics_port: int | None) -> None:
    """Fold hub.demandes into the statistics' facts until SIGTERM or Ctrl-C."""
    from connectors.shape import run_until_signal
    from hub.services.statistics_fold import StatisticsFold
    from hub.services.statistics_folder import Folder
    from hub.stores.cotation.store import DeclarationStore
    from hub.stores.statistics.store import StatisticsStore

    settings = _settings()
    settings.private_dir(settings.home)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    migrate(engine)
    serve_metrics(metrics_port, settings.monitoring.web_host, "stats fold")
    # screened as the worker screens the same records (audit R, R-F7)
    folder = Folder(
        StatisticsStore(engine),
        DeclarationStore(engine),
        max_record_bytes=settings.worker.max_record_bytes,
    )
    connector = StatisticsFold(settings, folder, group=group)
    run_until_signal(connector)
    click.echo(f"statistics fold stopped: {connector.stats}", err=True)


@stats.command("show")
@click.option("--niveau", type=click.Choice(["commune", "epci", "departement"]), required=True)
@click.option("--code", required=True, help="INSEE commune, EPCI SIREN or département code.")
@click.option(
    "--date",
    "on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Reference date (default: today in Europe/Paris, as the API).",
)
@click.option(
    "--mois",
    type=click.IntRange(1, 60),
    default=12,
    show_default=True,
    help="Months of the monthly series, up to the reference date's.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV export, one line per figure.")
def show(
    niveau: str, code: str, on: datetime | None, mois: int, as_json: bool, as_csv: bool
) -> None:
    """The figures of one territory; those on fewer than 11 demands are withheld."""
    from hub.domain.geo import get_geography
    from hub.domain.renewal import PARIS
    from hub.services import statistics as service
    from hub.stores.statistics.store import StatisticsStore

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    settings = _settings()
    settings.private_dir(settings.home)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    migrate(engine)
    # the Europe/Paris day, as GET /statistiques (audit R, R-F9)
    at: date = on.date() if on is not None else datetime.now(PARIS).date()
    store = StatisticsStore(engine)
    figures = service.territory(store, niveau, code, at, mois)
    if store.is_empty():  # every figure below would read "secret": say why instead
        click.echo(
            "note: no statistics folded yet in this hub home: run `hub stats fold` "
            "(it reads hub.demandes) first",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(service.territory_json(figures), ensure_ascii=False, indent=2))
    elif as_csv:
        click.echo(service.territory_csv(figures), nl=False)
    else:
        geo = get_geography()
        name = {
            "commune": lambda c: geo.commune(c).name,
            "epci": geo.epci_name,
            "departement": geo.departement_name,
        }[niveau](code)
        click.echo(service.territory_text(figures, name), nl=False)
