"""SNE errors, in the hub's one error family.

* :class:`SneFault`: the SNE answered with a SOAP Fault (``demandeLogementException``): a
  business answer, never retried. ``code`` is the fault's code.
* :class:`SneUnknownDemande`: the fault says the numéro unique is unknown.
* :class:`SneUnavailable`: transport failure (refused/reset connection, timeout, HTTP 5xx
  without a SOAP answer) after the retries: ``retriable``.
* :class:`SneProtocolError`: the answer is not what the WSDL promises (not retriable).

Anomaly lists are not errors: they come back in the client's result objects.
"""

from __future__ import annotations

from hub.core.errors import HubError, NotFoundError, TransientError


class SneFault(HubError):
    """A SOAP Fault from the SNE (or the simulator, or the hub's gateway)."""

    code = "sne_fault"


class SneUnknownDemande(NotFoundError):
    """The SNE does not know the numéro unique."""

    code = "NUMINCONNU"


class SneUnavailable(TransientError):
    """The SNE could not be reached or did not answer in time."""

    code = "sne_unavailable"


class SneProtocolError(HubError):
    """The SNE's answer does not follow the WSDL."""

    code = "sne_protocol"
