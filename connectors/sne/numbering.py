"""Numbering of new demands by the SNE: the step every ingress takes before an event is keyed.

A creation (CRE/CRS) that the SNE has not numbered yet — no ``numUnique`` — is legal input:
the SNE numbers new demands.
:func:`connectors.ingress.publishing.prepare_event`, which ``hub publish``,
the REST API, the file inbox and the SOAP gateway all go through, calls :func:`number`
for such an event before it validates and keys it, so nothing is ever keyed by an empty
number. Contracts of :func:`number`:

* no SNE configured (settings ``sne.url`` empty, :attr:`SneSettings.configured`) →
  :class:`InputError` ``no_sne``, one line saying so; nothing is called;
* else ``getNumUnique`` through :class:`~connectors.sne.client.SneClient` with the input
  document (the XML as received, or the event rendered as InterfaceNuu); the SNE's number
  is set on the event and on its snapshot; the attestation the SNE answers is saved under
  its name in ``<home>/sne-attestations/<numéro>/`` (owner-only: it names the
  applicant; the folder tells the purge whose it is);
* the SNE refuses (anomaly list or SOAP Fault) → :class:`InputError` ``sne_refused``,
  one line with the SNE's codes and messages; an SNE that cannot be reached →
  :class:`~connectors.sne.errors.SneUnavailable` (retriable) from the client's retry
  policy; an accepted answer without a valid number → ``SneProtocolError``.

A dry run never calls the SNE: :func:`needs_number` tells which events would be numbered,
and :func:`require_sne` refuses them when no SNE is configured, exactly as the real run.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hub.core.errors import InputError
from hub.core.settings import HubSettings, SneSettings, get_settings
from hub.domain.refdata import check_num_unique

if TYPE_CHECKING:
    from connectors.sne.client import SneClient

log = logging.getLogger(__name__)
CREATIONS = ("CRE", "CRS")
ATTESTATIONS_DIR = "sne-attestations"


def needs_number(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a creation the SNE has not numbered yet."""
    return event.get("operation") in CREATIONS and not str(event.get("numUnique") or "").strip()


def require_sne(event: dict[str, Any], settings: HubSettings | None = None) -> None:
    """:class:`InputError` ``no_sne`` when ``event`` needs a number and no SNE is
    configured (module contract); nothing otherwise. Calls nothing."""
    if needs_number(event) and not (settings or get_settings()).sne.configured:
        raise InputError(
            f"{event['operation']} without numéro unique: only the SNE numbers a new demand "
            "and no SNE is configured (set HUB_SNE__URL)",
            code="no_sne",
        )


@lru_cache(maxsize=4)
def _client(cfg: SneSettings) -> SneClient:
    from connectors.sne.client import SneClient

    return SneClient(cfg)


def number(
    event: dict[str, Any], document: bytes | None = None, settings: HubSettings | None = None
) -> dict[str, Any]:
    """``event`` numbered by the SNE (module contract); ``event`` itself when it has a
    number or is not a creation. ``document``: the InterfaceNuu XML as received, if any."""
    if not needs_number(event):
        return event
    settings = settings or get_settings()
    require_sne(event, settings)
    from connectors.interfacenuu.mapping import render_demande_xml
    from connectors.sne.errors import SneFault, SneProtocolError

    xml = document if document is not None else render_demande_xml(event)
    try:
        num, answer = _client(settings.sne).register_demande(xml)
    except SneFault as fault:
        raise InputError(
            f"{event['operation']} without numéro unique: the SNE refused it "
            f"({fault.code}: {fault.message})",
            code="sne_refused",
        ) from None
    if num is None:
        found = "; ".join(f"{a.code}: {a.message}" for a in answer.anomalies) or "no number"
        raise InputError(
            f"{event['operation']} without numéro unique: the SNE refused it ({found})",
            code="sne_refused",
        )
    try:
        check_num_unique(num)
    except InputError:
        raise SneProtocolError(
            f"SNE getNumUnique: answered a malformed number {num[:40]!r}"
        ) from None
    if answer.attestation is not None:
        # one folder per demand: the purge finds a demand's attestation by it, whatever the
        # SNE named the PDF and however its text is encoded (review I, F3)
        folder = settings.private_dir(settings.home / ATTESTATIONS_DIR / num)
        answer.attestation.save(folder)
    log.info("%s numbered by the SNE: %s", event["operation"], num)
    demande = event.get("demande") or {}
    dl = {**(demande.get("demandeLogement") or {}), "numUnique": num}
    return {**event, "numUnique": num, "demande": {**demande, "demandeLogement": dl}}
