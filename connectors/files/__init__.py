"""Legacy file exchange: inbox folders where old systems drop InterfaceNuu XML files, and
DIS outboxes where the hub writes what it dispatched to actors whose channel is ``file``.

* :mod:`connectors.files.fsutil`: atomic writes, directory fsync, locks.
* :mod:`connectors.files.layout`: folder layout and names.
* :mod:`connectors.files.inbox`: validate, publish, move to ``done/`` or ``error/``.
* :mod:`connectors.files.journal`: which inbox files Kafka already acknowledged.
* :mod:`connectors.files.disfile`: DIS batch files rendered from feed records.
* the DIS outboxes themselves are an outbound channel: :mod:`connectors.outbound.file`
  (the per-actor feed consumer writing DIS files) and :mod:`connectors.outbound.file_service`.

The guarantees and the protocol a legacy system follows are in docs/connectors-files.md.
"""
