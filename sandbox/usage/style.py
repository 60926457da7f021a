"""The styles the usage API can speak: how it authenticates, pages and shapes its JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

DEFAULT_LIMIT: Final = 500
MAX_LIMIT: Final = 1000

Auth = Literal["bearer", "api_key", "oauth2"]
Pagination = Literal["cursor", "next_link", "page", "offset", "link_header"]
Shape = Literal["flat", "nested"]


@dataclass(frozen=True)
class UsageStyle:
    """How the stand-in authenticates, pages and shapes its JSON (reference in the package docstring)."""

    auth: Auth = "bearer"
    api_key_header: str = "X-API-Key"
    token_path: str = "/oauth/token"
    token_expires_in: int = 3600
    pagination: Pagination = "cursor"
    page_size: int = DEFAULT_LIMIT
    max_page_size: int = MAX_LIMIT
    shape: Shape = "flat"
    list_key: str | None = None
    rate_limit_per_second: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("auth", Auth), ("pagination", Pagination), ("shape", Shape)):
            if getattr(self, name) not in get_args(allowed):
                raise ValueError(f"{name} must be one of {get_args(allowed)}, got {getattr(self, name)!r}")
        if not self.api_key_header.strip():
            raise ValueError("api_key_header must name a header")
        if not self.token_path.startswith("/") or self.token_path.startswith("/v1/"):
            raise ValueError(f"token_path must be an absolute path outside /v1, got {self.token_path!r}")
        if self.token_expires_in < 1:
            raise ValueError("token_expires_in must be at least 1 second")
        if not 1 <= self.page_size <= self.max_page_size:
            raise ValueError("page_size must be between 1 and max_page_size")
        if self.list_key == "" and self.pagination != "link_header":
            raise ValueError('list_key="" (a bare JSON array) needs pagination="link_header"')
        if self.rate_limit_per_second is not None and not self.rate_limit_per_second > 0:
            raise ValueError("rate_limit_per_second must be positive (None for no limit)")

    @property
    def items_key(self) -> str:
        """The top-level key of the rows ("" for a bare array)."""
        if self.list_key is not None:
            return self.list_key
        return "items" if self.shape == "nested" else "data"


DEFAULT_STYLE: Final = UsageStyle()
