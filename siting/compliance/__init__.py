"""The norm audit (``siting.audit``): does each community and sub-district meet the norm?

See :func:`audit` and :class:`Audit`; norms come from :mod:`siting.standards`.
"""

from __future__ import annotations

from .core import CSV_ENCODING, Audit, audit
from .plan import AuditPlan, plan_from_audit
from .units import units_from_osm

__all__ = ["CSV_ENCODING", "Audit", "AuditPlan", "audit", "plan_from_audit", "units_from_osm"]
