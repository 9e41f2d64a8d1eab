"""Every outbound channel of the hub, side by side (issue 18; see docs/connectors.md):

* :mod:`connectors.outbound.webhook`: each actor's feed POSTed as signed JSON;
* :mod:`connectors.outbound.soap`: each actor's feed POSTed as SOAP 1.2 envelopes
  (:mod:`connectors.outbound.soap_envelope`), the ERP's answer read by
  :mod:`connectors.outbound.soap_fault` (a Fault refusing the record, or to retry);
* :mod:`connectors.outbound.push`: the loop the push channels share (outbox, batches,
  order, settling, back-off); :mod:`connectors.outbound.service` serves every push actor
  (one task each), fed by :mod:`connectors.outbound.pump`;
* :mod:`connectors.outbound.file`: the DIS file outbox of one file actor (a feed consumer
  writing DIS files), :mod:`connectors.outbound.file_service` runs one per file actor.

The HTTP API's pull side (``GET /feed``) is in docs/api.md.
"""
