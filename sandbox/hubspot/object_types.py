"""HubSpot's object types: their ids and names, and the JSON an object is kept as."""

from __future__ import annotations

from typing import Any, Final

JSON = dict[str, Any]

# Object type ids and names (developers.hubspot.com/docs/api/crm/understanding-the-crm).
TYPE_IDS: Final = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
    "0-14": "quotes",
    "0-27": "tasks",
    "0-46": "notes",
    "0-47": "meetings",
    "0-48": "calls",
    "0-49": "emails",
}
SINGULAR: Final = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "products": "product",
    "line_items": "line_item",
    "quotes": "quote",
    "tasks": "task",
    "notes": "note",
    "meetings": "meeting",
    "calls": "call",
    "emails": "email",
}
PLURAL: Final = {singular: plural for plural, singular in SINGULAR.items()}
ENGAGEMENTS: Final = frozenset({"tasks", "notes", "meetings", "calls", "emails"})
