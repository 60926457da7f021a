"""The sizes, caps and page lengths HubSpot documents, as the stand-in enforces them."""

from __future__ import annotations

from typing import Final

API_SOURCE_ID: Final = "3141592"
"""``sourceId`` of property history written through the API token (the private app's id)."""

SEARCH_CAP: Final = 10_000
SEARCH_PAGE_MAX: Final = 200
SEARCH_BODY_MAX: Final = 3_000
MAX_FILTER_GROUPS: Final = 5
MAX_FILTERS_PER_GROUP: Final = 6
MAX_FILTERS: Final = 18
BATCH_MAX: Final = 100
HISTORY_BATCH_MAX: Final = 50
"""A batch read asking for ``propertiesWithHistory`` takes at most 50 inputs (HubSpot's 400 message,
quoted in PipedreamHQ/pipedream#8462)."""
ASSOCIATION_BATCH_READ_MAX: Final = 1_000
ASSOCIATION_PAGE_SIZE: Final = 500
SEARCH_INDEX_MIN: Final = 50_000
"""Tables this big are searched through a modified-date index rather than a full pass."""
EMBEDDED_ASSOCIATION_LIMIT: Final = 100
LIST_PAGE_MAX: Final = 100
OWNERS_PAGE_MAX: Final = 500
TOKEN_EXPIRES_IN: Final = 1_800
"""What the token endpoint reports as ``expires_in`` unless ``app.state.token_expires_in`` is set."""
