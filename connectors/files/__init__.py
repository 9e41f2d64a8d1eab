"""Legacy file exchange: inbox folders where old systems drop InterfaceNuu XML files, and
DIS outboxes where the hub writes what it dispatched to actors whose channel is ``file``.

* :mod:`connectors.files.fsutil`: atomic writes, directory fsync, locks.
* :mod:`connectors.files.layout`: folder layout and names.
* :mod:`connectors.files.claim`: an inbox file taken under the hub's own name before it is read.
* :mod:`connectors.files.inbox`: list, validate, report, move to ``done/`` or ``error/``.
* :mod:`connectors.files.numbering`: creations without number registered at the SNE once.
* :mod:`connectors.files.scan`: the passes (batches published to Kafka), ``hub files watch``.
* :mod:`connectors.files.journal`: which inbox files Kafka already acknowledged, and the
  numbers the SNE gave.
* :mod:`connectors.files.disfile`: DIS batch files rendered from feed records.
* the DIS outboxes themselves are an outbound channel: :mod:`connectors.outbound.file`
  (the per-actor feed consumer writing DIS files) and :mod:`connectors.outbound.file_service`.

The guarantees and the protocol a legacy system follows are in docs/connectors-files.md.
"""
