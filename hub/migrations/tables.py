"""Every table of the hub on one metadata: what migrations and the comparison of models
with migrations must see. Import :data:`metadata` from here, never from one module's
tables, so no module has to import the tables of the modules built on it."""

from __future__ import annotations

from connectors.sne import gateway_tables
from connectors.sne import tables as sne_tables
from hub.stores.access import tables as api_tables
from hub.stores.audit import tables as audit_tables
from hub.stores.cotation import tables as cotation_tables
from hub.stores.delivery import tables as delivery_tables
from hub.stores.gp import tables as gp_tables
from hub.stores.registry.tables import Base
from hub.stores.statistics import tables as statistics_tables

metadata = Base.metadata

__all__ = [
    "api_tables",
    "audit_tables",
    "cotation_tables",
    "delivery_tables",
    "gateway_tables",
    "gp_tables",
    "metadata",
    "sne_tables",
    "statistics_tables",
]
