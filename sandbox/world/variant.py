"""How one world's CRMs are set up: custom field names, picklist values and engagement id spaces.

A real org names its custom fields as its admin chose (``Product_Workspace__c``, not the
sandbox's ``Workspace_Id__c``), keeps Salesforce's standard Opportunity Type values or its own,
may keep a deal field of its own saying what a deal sells (upsell, cross-sell, renewal), and a
HubSpot portal numbers engagements as it numbers them. A :class:`CrmVariant` is one such
set-up, drawn from a seed (:meth:`CrmVariant.from_seed`); the default is the sandbox's own, so
a world built without one is today's. :func:`upsync_config` renders the config section an admin
of that org would write, so tests configure upsync by config alone.

The canonical names used as keys (``workspace_id``, ``seats_purchased``…) are upsync's own
column names (``core.canonical``); the values are the org's API names.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "DEAL_KINDS",
    "HS_DEAL_KIND_PROPERTY",
    "HS_DEAL_KIND_VALUES",
    "HS_STANDARD_DEAL_TYPES",
    "SF_DEAL_KIND_FIELD",
    "SF_DEAL_KIND_VALUES",
    "SF_STANDARD_OPPORTUNITY_TYPES",
    "CrmVariant",
    "upsync_config",
]

DEAL_KINDS: Final = ("new", "upgrade", "cross-sell", "renewal")
"""The world's deal kinds, in the order the generator numbers them (``catalogue.DEAL_NEW``…)."""

SF_STANDARD_OPPORTUNITY_TYPES: Final = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
)
"""The Opportunity Type values a new Salesforce org ships with (Salesforce Help, "Opportunity
Fields": Type). They have no cross-sell or renewal of their own: an org keeping them records a
cross-sell as an upgrade and a renewal as a replacement."""
_SF_STANDARD_BY_KIND: Final = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
)
_SF_CUSTOM_OPPORTUNITY_TYPES: Final = ("New Logo", "Expansion", "Cross-sell", "Renewal")

HS_STANDARD_DEAL_TYPES: Final = ("newbusiness", "existingbusiness", "existingbusiness", "existingbusiness")
"""HubSpot's default ``dealtype`` options (New Business, Existing Business), by deal kind."""
_HS_CUSTOM_DEAL_TYPES: Final = ("new_logo", "expansion", "cross_sell", "renewal")

SF_DEAL_KIND_FIELD: Final = "Deal_Kind__c"
"""The stand-in's custom Opportunity picklist saying what a deal sells; empty unless a variant fills it."""
HS_DEAL_KIND_PROPERTY: Final = "deal_kind"
"""The stand-in's custom deal property saying the same."""
_SF_KIND_FIELDS: Final = ("Upsell_Type__c", "Deal_Kind__c", "Opportunity_Kind__c")
_HS_KIND_PROPERTIES: Final = ("deal_kind", "upsell_type", "deal_category")
SF_DEAL_KIND_VALUES: Final = ("New", "Upsell", "Cross-sell", "Renewal")
HS_DEAL_KIND_VALUES: Final = ("new", "upsell", "cross_sell", "renewal")
"""The kind field's value of each deal kind (:data:`DEAL_KINDS`)."""

# canonical column → the sandbox's API name (today's world), then names other orgs use
_SF_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "workspace_id": ("Workspace_Id__c", "Product_Workspace__c", "App_Account_Id__c", "Tenant_Key__c"),
    "seats_purchased": ("Seats_Purchased__c", "Licensed_Seats__c", "Seat_Count__c"),
    "health_rollup": ("Health_Rollup__c", "Customer_Health__c", "Health_Index__c"),
    "do_not_contact": ("Do_Not_Contact__c", "Legal_Hold__c", "No_Outreach__c"),
    "nps": ("NPS__c", "NPS_Score__c", "Net_Promoter__c"),
    "csat": ("CSAT__c", "CSAT_Percent__c", "Satisfaction__c"),
}
_HS_PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "workspace_id": ("workspace_id", "product_workspace", "app_account_id", "tenant_key"),
    "seats_purchased": ("upsync_seats_purchased", "licensed_seats", "seat_count"),
    "contract_end": ("contract_end_date", "renewal_date", "subscription_end"),
    "health_rollup": ("health_rollup", "customer_health", "health_index"),
    "do_not_contact": ("do_not_contact", "legal_hold", "no_outreach"),
    "nps": ("nps_score", "net_promoter", "nps_latest"),
    "csat": ("csat_score", "satisfaction_pct", "csat_latest"),
}
# upsync's config key for each canonical column (connectors/*/settings.py)
_SF_KEYS: Final = {
    "workspace_id": "workspace_field",
    "seats_purchased": "seats_field",
    "health_rollup": "health_field",
    "do_not_contact": "do_not_contact_field",
    "nps": "nps_field",
    "csat": "csat_field",
}
_HS_KEYS: Final = {
    "workspace_id": "workspace_property",
    "seats_purchased": "seats_property",
    "contract_end": "contract_end_property",
    "health_rollup": "health_property",
    "do_not_contact": "do_not_contact_property",
    "nps": "nps_property",
    "csat": "csat_property",
}
# the offer a lost deal of each world kind says no to (G3, rules/deal_kinds.py); new business: none
_G3_KINDS: Final = (None, "upsell", "cross-sell", "renewal")

EngagementIds = Literal["disjoint", "overlapping"]


def _defaults(names: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {canonical: options[0] for canonical, options in names.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmVariant:
    """One org's set-up of both CRMs; the default is the sandbox's own.

    ``sf_fields`` / ``hs_properties``: canonical column → the Account field / company property
    that holds it. ``sf_opportunity_types`` / ``hs_deal_types``: the Type / ``dealtype`` value of
    each deal kind (:data:`DEAL_KINDS`); the default is each CRM's standard picklist.
    ``sf_deal_kind_field`` / ``hs_deal_kind_property``: the org's own deal field saying what a deal
    sells (:data:`SF_DEAL_KIND_VALUES` / :data:`HS_DEAL_KIND_VALUES`), or None.
    ``hs_engagement_ids``: ``disjoint`` gives each engagement type its own id block (today's
    world); ``overlapping`` numbers tasks, calls, meetings, emails and notes from the same base,
    so the n-th of each share an id, as HubSpot's per-type ids may.
    """

    seed: int | None = None
    sf_fields: Mapping[str, str] = field(default_factory=lambda: _defaults(_SF_FIELDS))
    sf_opportunity_types: tuple[str, str, str, str] = _SF_STANDARD_BY_KIND
    sf_deal_kind_field: str | None = None
    hs_properties: Mapping[str, str] = field(default_factory=lambda: _defaults(_HS_PROPERTIES))
    hs_deal_types: tuple[str, str, str, str] = HS_STANDARD_DEAL_TYPES
    hs_deal_kind_property: str | None = None
    hs_engagement_ids: EngagementIds = "disjoint"
    sf_multi_currency: bool = False
    """The org turned multi-currency on: Opportunity has ``CurrencyIsoCode`` (every deal in USD, the
    corporate currency); off, the field does not exist at all, as in any single-currency org."""

    @classmethod
    def from_seed(cls, seed: int) -> CrmVariant:
        """A set-up drawn from ``seed``: every custom field renamed away from the sandbox's name,
        standard or custom picklist values, overlapping or disjoint engagement ids, a deal kind
        field or none (drawn last: the earlier draws of a seed stay what they were)."""
        rng = random.Random(f"crm-variant:{seed}")
        sf = {c: rng.choice(options[1:]) for c, options in _SF_FIELDS.items()}
        hs = {c: rng.choice(options[1:]) for c, options in _HS_PROPERTIES.items()}
        sf_types = _SF_STANDARD_BY_KIND if rng.random() < 0.5 else _SF_CUSTOM_OPPORTUNITY_TYPES
        hs_types = HS_STANDARD_DEAL_TYPES if rng.random() < 0.5 else _HS_CUSTOM_DEAL_TYPES
        ids: EngagementIds = "overlapping" if rng.random() < 0.5 else "disjoint"
        kind_field = rng.random() < 0.5
        return cls(
            seed=seed,
            sf_fields=sf,
            sf_opportunity_types=sf_types,
            sf_deal_kind_field=rng.choice(_SF_KIND_FIELDS) if kind_field else None,
            hs_properties=hs,
            hs_deal_types=hs_types,
            hs_deal_kind_property=rng.choice(_HS_KIND_PROPERTIES) if kind_field else None,
            hs_engagement_ids=ids,
        )

    @property
    def sf_picklist(self) -> tuple[str, ...]:
        """The Opportunity Type picklist as describe lists it: the standard set whole, else the values used."""
        if self.sf_opportunity_types == _SF_STANDARD_BY_KIND:
            return SF_STANDARD_OPPORTUNITY_TYPES
        return tuple(dict.fromkeys(self.sf_opportunity_types))

    @property
    def hs_deal_options(self) -> tuple[tuple[str, str], ...]:
        """The ``dealtype`` options as the properties API lists them: (value, label)."""
        if self.hs_deal_types == HS_STANDARD_DEAL_TYPES:
            return (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))
        values = dict.fromkeys(self.hs_deal_types)
        return tuple((v, v.replace("_", " ").title()) for v in values)

    def sf_renames(self) -> dict[str, str]:
        """The sandbox's Account field name → this org's, for the fields this org names otherwise."""
        defaults = _defaults(_SF_FIELDS)
        return {defaults[c]: name for c, name in self.sf_fields.items() if name != defaults[c]}

    def hs_renames(self) -> dict[str, str]:
        """The sandbox's company property name → this portal's, where they differ."""
        defaults = _defaults(_HS_PROPERTIES)
        return {defaults[c]: name for c, name in self.hs_properties.items() if name != defaults[c]}

    def deal_kind_field(self, system: str) -> str | None:
        """The org's deal field saying what a deal sells, if it keeps one."""
        return self.sf_deal_kind_field if system == "salesforce" else self.hs_deal_kind_property

    def deal_kind_value(self, system: str, kind: int) -> str | None:
        """The kind field's value of a deal of world kind ``kind``, where the org keeps the field."""
        if self.deal_kind_field(system) is None:
            return None
        return (SF_DEAL_KIND_VALUES if system == "salesforce" else HS_DEAL_KIND_VALUES)[kind]

    def standard_types(self, system: str) -> bool:
        """The org keeps its CRM's standard deal type picklist."""
        if system == "salesforce":
            return self.sf_opportunity_types == _SF_STANDARD_BY_KIND
        return self.hs_deal_types == HS_STANDARD_DEAL_TYPES

    def lost_deal_kinds(self, system: str) -> dict[str, str]:
        """What a lost deal of each type says no to in this org (G3): type value → offer kind.
        Where a type stands for several kinds, the first (an upgrade before a cross-sell); HubSpot's
        one existing-business value reads as a renewal, as most existing-business deals are."""
        values = self.sf_opportunity_types if system == "salesforce" else self.hs_deal_types
        if system == "hubspot" and values == HS_STANDARD_DEAL_TYPES:
            return {"existingbusiness": "renewal"}
        out: dict[str, str] = {}
        for value, kind in zip(values, _G3_KINDS, strict=True):
            if kind is not None and value not in out:
                out[value] = kind
        return out

    def lost_deal_kind(self, system: str, type_value: str | None, kind_value: str | None) -> str | None:
        """The offer a lost deal with these values says no to in this org: its kind field's value
        where it holds one, else its type."""
        if kind_value:
            values = SF_DEAL_KIND_VALUES if system == "salesforce" else HS_DEAL_KIND_VALUES
            return _G3_KINDS[values.index(kind_value)] if kind_value in values else None
        return self.lost_deal_kinds(system).get(type_value or "")


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def upsync_config(variant: CrmVariant, system: str) -> str:
    """The TOML an admin of this org writes for upsync: the ``[salesforce]`` or ``[hubspot]``
    keys naming the org's fields (its deal kind field too), then ``[guards.G3]`` with the org's deal
    type values where they are not the CRM's standard ones (upsync knows those).

    The CRM section's connection keys (URL, CA file) are the caller's; the text starts with
    the section's other keys, so it can follow them directly under the section header.
    """
    if system == "salesforce":
        keys = {_SF_KEYS[c]: name for c, name in variant.sf_fields.items()}
    elif system == "hubspot":
        keys = {_HS_KEYS[c]: name for c, name in variant.hs_properties.items()}
    else:
        raise ValueError(f"unknown CRM {system!r}")
    kind_field = variant.deal_kind_field(system)
    if kind_field is not None:
        keys["deal_kind_field" if system == "salesforce" else "deal_kind_property"] = kind_field
    lines = [f"{key} = {_toml(name)}" for key, name in keys.items()]
    if not variant.standard_types(system):
        kinds = variant.lost_deal_kinds(system)
        lines += [
            "",
            "[guards.G3]",
            "deal_types = { " + ", ".join(f"{_toml(v)} = {_toml(k)}" for v, k in kinds.items()) + " }",
        ]
    return "\n".join(lines) + "\n"
