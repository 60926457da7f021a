"""The sObjects the stand-in knows, their fields and picklists, by name and by key prefix."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sandbox.salesforce.metadata import (
    FieldSpec,
    SObjectSpec,
    audit_fields,
    number_field,
    picklist_field,
    reference_field,
    system_field,
    text_field,
)
from sandbox.world import SalesforceStore
from sandbox.world.catalogue import TIERS

_INDUSTRIES = (
    *("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction"),
    *("Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental"),
    *("Finance", "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Recreation"),
    *("Retail", "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities", "Other"),
)
_ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_PRIORITIES = ("High", "Normal", "Low")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
OPPORTUNITY_STAGES = (
    *("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers"),
    *("Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"),
)
OPPORTUNITY_TYPES = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
)
"""Salesforce's standard Opportunity Type values (Salesforce Help, "Opportunity Fields")."""
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
CASE_PRIORITIES = ("High", "Medium", "Low")
ASSET_STATUSES = ("Purchased", "Shipped", "Installed", "Registered", "Obsolete")
CONTRACT_STATUS_CODES = {"Draft": "Draft", "In Approval Process": "InApproval", "Activated": "Activated"}
# Activities may relate to most business objects; these are the ones the stand-in knows.
_WHAT_TARGETS = ("Account", "Opportunity", "Contract", "Case", "Asset", "Product2")
_WHO_TARGETS = ("Contact", "Lead")
HEALTH_ROLLUP_FORMULA = "Upsync_Health_Score__c * 0.6 + Upsync_Expansion_Score__c * 0.4"

ACCOUNT = SObjectSpec(
    name="Account",
    label="Account",
    label_plural="Accounts",
    key_prefix="001",
    fields=(
        system_field("Id", "Account ID", "id", nillable=False),
        text_field("Name", "Account Name", 255, nillable=False),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        FieldSpec(name="Website", type="url", label="Website", length=255),
        picklist_field("Industry", "Industry", _INDUSTRIES),
        number_field("NumberOfEmployees", "Employees", "int", precision=0, scale=0),
        picklist_field("Type", "Account Type", _ACCOUNT_TYPES),
        reference_field("ParentId", "Parent Account ID", "Account"),
        text_field("Workspace_Id__c", "Workspace Id", 80, external_id=True, unique=True),
        number_field("Seats_Purchased__c", "Seats Purchased", scale=0),
        # A formula: its value changes when its inputs do, without a SystemModstamp change.
        number_field(
            "Health_Rollup__c", "Health Rollup", createable=False, updateable=False, formula=HEALTH_ROLLUP_FORMULA
        ),
        # Account facts a survey tool or the legal team keeps (upsync reads them when configured; guards G6, G1).
        # A Checkbox custom field describes as type "boolean", soapType xsd:boolean, never null, defaultValue
        # false; Number and Percent as "double"/"percent" (xsd:double, percent values are 0–100, not 0–1):
        # Object Reference, "Field Types" / Schema.DisplayType.
        FieldSpec(name="Do_Not_Contact__c", type="boolean", label="Do Not Contact", nillable=False, default=False),
        number_field("NPS__c", "NPS", precision=3, scale=1),
        number_field("CSAT__c", "CSAT", "percent", precision=5, scale=1),
        # An admin's own fields upsync knows nothing of until [salesforce] extra_fields names them: a
        # Roll-Up Summary of the MRR (recalculated without a SystemModstamp change) and a tier picklist.
        number_field("MRR_Rollup__c", "MRR Rollup", "currency", createable=False, updateable=False),
        picklist_field("Tier__c", "Tier", TIERS),
        number_field("Upsync_Health_Score__c", "Upsync Health Score"),
        text_field("Upsync_Health_Band__c", "Upsync Health Band", 20),
        number_field("Upsync_Expansion_Score__c", "Upsync Expansion Score"),
        text_field("Upsync_Next_Best_Action__c", "Upsync Next Best Action", 255),
        text_field("Upsync_Last_Signal__c", "Upsync Last Signal", 255),
        FieldSpec(name="Upsync_Playbook_Url__c", type="url", label="Upsync Playbook Url", length=255),
        FieldSpec(name="Upsync_As_Of__c", type="datetime", label="Upsync As Of"),
        *audit_fields(),
    ),
)
_CONTRACT = SObjectSpec(
    name="Contract",
    label="Contract",
    label_plural="Contracts",
    key_prefix="800",
    fields=(
        system_field("Id", "Contract ID", "id", nillable=False),
        reference_field("AccountId", "Account ID", "Account", nillable=False),
        picklist_field(
            "Status",
            "Status",
            tuple(CONTRACT_STATUS_CODES),
            length=40,
            restricted=True,
            nillable=False,
            default="Draft",
        ),
        system_field(
            "StatusCode", "Status Category", "picklist", nillable=False, picklist=("Draft", "InApproval", "Activated")
        ),
        FieldSpec(name="StartDate", type="date", label="Contract Start Date"),
        system_field("EndDate", "Contract End Date", "date"),
        number_field("ContractTerm", "Contract Term", "int", precision=0, scale=0),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        *audit_fields(),
    ),
)
_USER = SObjectSpec(
    name="User",
    label="User",
    label_plural="Users",
    key_prefix="005",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        system_field("Id", "User ID", "id", nillable=False),
        system_field("Name", "Full Name", "string", length=121, nillable=False),
        text_field("FirstName", "First Name", 40),
        text_field("LastName", "Last Name", 80, nillable=False),
        FieldSpec(name="Email", type="email", label="Email", length=128, nillable=False),
        FieldSpec(name="IsActive", type="boolean", label="Active", nillable=False, default=True),
        system_field("SystemModstamp", "System Modstamp", "datetime", nillable=False),
    ),
)
OPPORTUNITY = SObjectSpec(
    name="Opportunity",
    label="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    fields=(
        system_field("Id", "Opportunity ID", "id", nillable=False),
        reference_field("AccountId", "Account ID", "Account"),
        text_field("Name", "Name", 120, nillable=False),
        picklist_field("Type", "Opportunity Type", OPPORTUNITY_TYPES),
        picklist_field("StageName", "Stage", OPPORTUNITY_STAGES, restricted=True, nillable=False),
        system_field("IsClosed", "Closed", "boolean", nillable=False, default=False),
        system_field("IsWon", "Won", "boolean", nillable=False, default=False),
        FieldSpec(name="CloseDate", type="date", label="Close Date", nillable=False),
        number_field("Amount", "Amount", "currency"),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        # an org's own picklist saying what a deal sells; filled only in a world whose variant keeps it
        picklist_field("Deal_Kind__c", "Deal Kind", ("New", "Upsell", "Cross-sell", "Renewal")),
        *audit_fields(),
    ),
)
_PRODUCT = SObjectSpec(
    name="Product2",
    label="Product",
    label_plural="Products",
    key_prefix="01t",
    fields=(
        system_field("Id", "Product ID", "id", nillable=False),
        text_field("Name", "Product Name", 255, nillable=False),
        text_field("ProductCode", "Product Code", 255),
        picklist_field("Family", "Product Family", ("Platform", "Add-on", "Services", "Support")),
        FieldSpec(name="IsActive", type="boolean", label="Active", nillable=False, default=False),
        *audit_fields(),
    ),
)
_LINE_ITEM = SObjectSpec(
    name="OpportunityLineItem",
    label="Opportunity Product",
    label_plural="Opportunity Product",
    key_prefix="00k",
    fields=(
        system_field("Id", "Line Item ID", "id", nillable=False),
        # The parent and the product are set on create and never change.
        reference_field("OpportunityId", "Opportunity ID", "Opportunity", nillable=False, updateable=False),
        reference_field("Product2Id", "Product ID", "Product2", updateable=False),
        number_field("Quantity", "Quantity", nillable=False),
        number_field("UnitPrice", "Sales Price", "currency"),
        number_field("TotalPrice", "Total Price", "currency"),
        FieldSpec(name="ServiceDate", type="date", label="Date"),
        *audit_fields(),
    ),
)
_ASSET = SObjectSpec(
    name="Asset",
    label="Asset",
    label_plural="Assets",
    key_prefix="02i",
    fields=(
        system_field("Id", "Asset ID", "id", nillable=False),
        reference_field("AccountId", "Account ID", "Account"),
        reference_field("Product2Id", "Product ID", "Product2"),
        text_field("Name", "Asset Name", 255, nillable=False),
        number_field("Quantity", "Quantity"),
        picklist_field("Status", "Status", ASSET_STATUSES),
        FieldSpec(name="PurchaseDate", type="date", label="Purchase Date"),
        FieldSpec(name="InstallDate", type="date", label="Install Date"),
        FieldSpec(name="UsageEndDate", type="date", label="Usage End Date"),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        *audit_fields(),
    ),
)
_CONTACT = SObjectSpec(
    name="Contact",
    label="Contact",
    label_plural="Contacts",
    key_prefix="003",
    fields=(
        system_field("Id", "Contact ID", "id", nillable=False),
        reference_field("AccountId", "Account ID", "Account"),
        text_field("FirstName", "First Name", 40),
        text_field("LastName", "Last Name", 80, nillable=False),
        FieldSpec(name="Email", type="email", label="Email", length=80),
        text_field("Title", "Title", 128),
        text_field("Department", "Department", 80),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        *audit_fields(),
    ),
)
_TASK = SObjectSpec(
    name="Task",
    label="Task",
    label_plural="Tasks",
    key_prefix="00T",
    fields=(
        system_field("Id", "Activity ID", "id", nillable=False),
        text_field("Subject", "Subject", 255),
        FieldSpec(name="Description", type="textarea", label="Description", length=32000),
        FieldSpec(name="ActivityDate", type="date", label="Due Date Only"),
        picklist_field("Status", "Status", TASK_STATUSES, restricted=True, nillable=False, default="Not Started"),
        picklist_field(
            "Priority", "Priority", TASK_PRIORITIES, length=40, restricted=True, nillable=False, default="Normal"
        ),
        # Set on create only, like the real TaskSubtype.
        picklist_field("TaskSubtype", "Task Subtype", TASK_SUBTYPES, length=40, restricted=True, updateable=False),
        reference_field("OwnerId", "Assigned To ID", "User", nillable=False),
        reference_field("WhatId", "Related To ID", *_WHAT_TARGETS),
        reference_field("WhoId", "Name ID", *_WHO_TARGETS),
        system_field("AccountId", "Account ID", "reference", reference_to=("Account",)),
        system_field("IsClosed", "Closed", "boolean", nillable=False, default=False),
        text_field("Upsync_Sync_Key__c", "Upsync Sync Key", 80, external_id=True, unique=True),
        *audit_fields(),
    ),
)
_EVENT = SObjectSpec(
    name="Event",
    label="Event",
    label_plural="Events",
    key_prefix="00U",
    fields=(
        system_field("Id", "Activity ID", "id", nillable=False),
        text_field("Subject", "Subject", 255),
        FieldSpec(name="Description", type="textarea", label="Description", length=32000),
        FieldSpec(name="ActivityDate", type="date", label="Due Date Only"),
        FieldSpec(name="ActivityDateTime", type="datetime", label="Due Date Time"),
        number_field("DurationInMinutes", "Duration", "int", precision=0, scale=0),
        reference_field("OwnerId", "Assigned To ID", "User", nillable=False),
        reference_field("WhatId", "Related To ID", *_WHAT_TARGETS),
        reference_field("WhoId", "Name ID", *_WHO_TARGETS),
        system_field("AccountId", "Account ID", "reference", reference_to=("Account",)),
        *audit_fields(),
    ),
)
_CASE = SObjectSpec(
    name="Case",
    label="Case",
    label_plural="Cases",
    key_prefix="500",
    fields=(
        system_field("Id", "Case ID", "id", nillable=False),
        reference_field("AccountId", "Account ID", "Account"),
        reference_field("ContactId", "Contact ID", "Contact"),
        text_field("Subject", "Subject", 255),
        picklist_field("Status", "Status", CASE_STATUSES, length=40, restricted=True, nillable=False, default="New"),
        picklist_field("Priority", "Priority", CASE_PRIORITIES, length=40, default="Medium"),
        picklist_field("Origin", "Case Origin", ("Phone", "Email", "Web"), length=40),
        system_field("IsClosed", "Closed", "boolean", nillable=False, default=False),
        FieldSpec(name="IsEscalated", type="boolean", label="Escalated", nillable=False, default=False),
        system_field("ClosedDate", "Closed Date", "datetime"),
        reference_field("OwnerId", "Owner ID", "User", nillable=False),
        *audit_fields(),
    ),
)

SOBJECTS: dict[str, SObjectSpec] = {
    spec.name: spec
    for spec in (
        ACCOUNT,
        _CONTRACT,
        _USER,
        OPPORTUNITY,
        _PRODUCT,
        _LINE_ITEM,
        _ASSET,
        _CONTACT,
        _TASK,
        _EVENT,
        _CASE,
    )
}
"""The sObjects the stand-in knows, by API name: every object upsync reads or writes."""
SCHEMA: dict[str, dict[str, str]] = {spec.name: {f.name: f.type for f in spec.fields} for spec in SOBJECTS.values()}
"""``SOBJECTS`` as ``soql.Schema`` (sObject → field → type)."""
BY_LOWER = {name.lower(): spec for name, spec in SOBJECTS.items()}
BY_PREFIX = {spec.key_prefix: spec for spec in SOBJECTS.values()}
KNOWN_PREFIXES = {**{s.key_prefix: s.name for s in SOBJECTS.values()}, "00Q": "Lead"}


@dataclass(frozen=True, slots=True)
class OrgSchema:
    """The sObjects of one org: the stand-in's own, with the fields its admin named otherwise
    and its own picklist values (``SalesforceStore.field_renames`` / ``picklists``)."""

    by_name: dict[str, SObjectSpec]
    by_lower: dict[str, SObjectSpec]
    by_prefix: dict[str, SObjectSpec]
    schema: dict[str, dict[str, str]]

    @classmethod
    def of(cls, specs: dict[str, SObjectSpec]) -> OrgSchema:
        return cls(
            by_name=specs,
            by_lower={name.lower(): spec for name, spec in specs.items()},
            by_prefix={spec.key_prefix: spec for spec in specs.values()},
            schema={spec.name: {f.name: f.type for f in spec.fields} for spec in specs.values()},
        )


_STAND_IN = OrgSchema.of(SOBJECTS)
CURRENCY_ISO_CODE = picklist_field("CurrencyIsoCode", "Currency ISO Code", ("USD", "EUR", "GBP", "JPY"))
"""A multi-currency org's record currency (Object Reference, Opportunity: CurrencyIsoCode, "available only
for organizations with the multicurrency feature enabled"); a single-currency org has no such field."""
_CURRENCY_OBJECTS = frozenset({"Opportunity"})


def org_schema(store: SalesforceStore) -> OrgSchema:
    """The describe of the org ``store`` holds: the stand-in's own unless the world renamed fields."""
    if not store.field_renames and not store.picklists and not store.multi_currency:
        return _STAND_IN
    with store.lock:
        if store.org_schema is None:
            specs = {}
            for name, spec in SOBJECTS.items():
                fields = []
                for f in spec.fields:
                    renamed = store.field_renames.get((name, f.name))
                    if renamed is not None:
                        f = replace(f, name=renamed, label=renamed.removesuffix("__c").replace("_", " "))
                    values = store.picklists.get((name, f.name))
                    if values is not None:
                        f = replace(f, picklist=values)
                    fields.append(f)
                if store.multi_currency and name in _CURRENCY_OBJECTS:
                    fields.append(CURRENCY_ISO_CODE)
                specs[name] = replace(spec, fields=tuple(fields))
            store.org_schema = OrgSchema.of(specs)
        schema: OrgSchema = store.org_schema
        return schema
