"""Each vendor library is imported by exactly one module (or one package) of the product (the sandbox aside),
httpx and SQLAlchemy aside: the usage API and the alert webhook, the store and the usage warehouse, are
outside systems each translating its own errors."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = {
    "simple_salesforce": "connectors/salesforce/client.py",
    "requests": "connectors/salesforce/client.py",
    "hubspot": "connectors/hubspot/client.py",
    "urllib3": "connectors/hubspot/client.py",
    "httpx": "connectors/usage/",  # the client and its declarative paginators (connectors/usage/rest/)
    "sqlalchemy": "sync/store/",
    "alembic": "sync/store/",
    "apscheduler": "sync/scheduler.py",
    "tenacity": "connectors/http.py",
    "prometheus_client": "sync/observe/",
}
SECOND_OWNER = {
    "httpx": "connectors/webhook.py",
    "sqlalchemy": "connectors/usage/sql.py",  # usage read from a warehouse: its own errors, its own engine
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_each_vendor_library_has_exactly_one_importer() -> None:
    importers: dict[str, set[str]] = {lib: set() for lib in OWNER}
    for package in ("core", "connectors", "sync", "rules"):
        for path in (ROOT / package).rglob("*.py"):
            for lib in imported_roots(path) & OWNER.keys():
                importers[lib].add(path.relative_to(ROOT).as_posix())
    owners = {
        lib: {owner if owner.endswith("/") and path.startswith(owner) else path for path in paths}
        for lib, owner in OWNER.items()
        for paths in [importers[lib]]
    }
    assert owners == {
        lib: {owner, *([SECOND_OWNER[lib]] if lib in SECOND_OWNER else [])} for lib, owner in OWNER.items()
    }
