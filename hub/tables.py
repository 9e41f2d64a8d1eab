"""Every table beyond the actor registry (issue 4), registered on the shared metadata.

Imported at the end of :mod:`hub.registry.tables` so that migrations and the comparison
of models with migrations always see the complete schema.
"""

from __future__ import annotations

from hub.api import tables as api_tables
from hub.audit import tables as audit_tables
from hub.delivery import tables as delivery_tables
from hub.gp import tables as gp_tables

__all__ = ["api_tables", "audit_tables", "delivery_tables", "gp_tables"]
