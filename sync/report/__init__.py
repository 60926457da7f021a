"""``upsync report --html``: one self-contained page a sales manager reads (inline SVG charts, no script).

:class:`ReportData` holds every frame the page needs; :func:`build_page` turns it into HTML
(charts in :mod:`sync.report.charts`, layout in :mod:`sync.report.page`, the derived measures in
:mod:`sync.report.measures`); :func:`report_data` reads it from the store.
"""

from __future__ import annotations

from sync.report.data import HEALTH_COUNTS_SCHEMA, LIFT_SCHEMA, OWNER_TASKS_SCHEMA, ReportData
from sync.report.load import report_data
from sync.report.page import build_page

__all__ = ["HEALTH_COUNTS_SCHEMA", "LIFT_SCHEMA", "OWNER_TASKS_SCHEMA", "ReportData", "build_page", "report_data"]
