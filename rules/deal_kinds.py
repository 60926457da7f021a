"""What a lost deal says no to (G3): its kind field if the org keeps one, else its standard type.

A lost deal is a "no" to one kind of offer: upsell, cross-sell, renewal (or save). Orgs say which
in one of two places:

- the deal's **type**, a standard picklist. Salesforce's Opportunity ``Type`` ships with "New
  Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement" and "Existing
  Customer - Downgrade" (Salesforce Help, "Opportunity Fields"); HubSpot's ``dealtype`` with
  ``newbusiness`` and ``existingbusiness`` (HubSpot Knowledge Base, "HubSpot's default deal
  properties"). New business is no "no" from a customer; HubSpot's ``existingbusiness`` is a
  renewal or an expansion alike, and most existing-business deals are renewals, so it reads as a
  lost renewal: it cools renewal offers down, never every offer;
- a **kind field** the org added (Salesforce ``Upsell_Type__c``, a HubSpot ``deal_kind``
  property) holding upsell / cross-sell / renewal: where it holds a value, it decides.

Values are matched whatever their case, spaces and punctuation ("Cross-sell" = "cross_sell").
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

__all__ = ["OFFER_KINDS", "kind_words", "lost_deal_kind", "normalised", "normalised_column", "standard_deal_types"]

OFFER_KINDS = ("upsell", "cross-sell", "renewal", "save", "review")
"""What an offer is, as G3 reads a lost deal: a rule's kind, or ``renewal`` (``offer_kind``)."""


def standard_deal_types() -> dict[str, str]:
    """Both CRMs' standard deal type values → the offer a lost one says no to."""
    return {
        "Existing Customer - Upgrade": "upsell",
        "Existing Customer - Replacement": "renewal",
        # a customer asking to pay less is a save conversation: no upsell or cross-sell is cooled
        "Existing Customer - Downgrade": "save",
        "existingbusiness": "renewal",
    }


def kind_words() -> dict[str, str]:
    """A kind field's values → offer kind: the words themselves."""
    return {"upsell": "upsell", "cross-sell": "cross-sell", "renewal": "renewal"}


def normalised(value: str) -> str:
    """The form values are matched in: lower case, letters and digits only."""
    return "".join(c for c in value.lower() if c.isalnum())


def normalised_column(column: str) -> pl.Expr:
    """:func:`normalised`, over a text column."""
    return pl.col(column).str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]", "")


def _mapped(column: str, mapping: Mapping[str, str]) -> pl.Expr:
    keys = {normalised(k): v for k, v in mapping.items()}
    return normalised_column(column).replace_strict(keys, default=None, return_dtype=pl.String)


def lost_deal_kind(deal_types: Mapping[str, str], kinds: Mapping[str, str]) -> pl.Expr:
    """The offer kind a deal says no to (null: none) over ``opp_type`` and ``deal_kind``: the
    kind field where it holds a value (an unmapped value: none), else the type."""
    has_kind = pl.col("deal_kind").str.strip_chars().fill_null("") != ""
    return pl.when(has_kind).then(_mapped("deal_kind", kinds)).otherwise(_mapped("opp_type", deal_types))
