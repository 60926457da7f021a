"""The fields every log line of the current command and cycle carries: run id, command, stream.

A context variable rather than arguments threaded through every call: the layer that knows a
field (the CLI its command, the runner its run id) binds it once, and every line logged below,
in any layer, carries it. The structured log formatter (``sync.observe.logs``) reads it.
Context variables are per thread, so the daemon's cycle thread keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

__all__ = ["bind", "current", "scoped"]

_NONE: Mapping[str, object] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, object]] = ContextVar("upsync_log_fields", default=_NONE)


def current() -> Mapping[str, object]:
    """The fields bound so far in this context."""
    return _FIELDS.get()


def bind(**fields: object) -> None:
    """Add ``fields`` until the enclosing :func:`scoped` block ends (or for good outside one)."""
    _FIELDS.set({**_FIELDS.get(), **fields})


@contextmanager
def scoped(**fields: object) -> Iterator[None]:
    """Bind ``fields`` for the ``with`` block; whatever was bound inside it ends with it too."""
    token = _FIELDS.set({**_FIELDS.get(), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)
