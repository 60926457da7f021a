"""The standard and upsync properties of each object type (developers.hubspot.com/docs/api/crm/properties)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from sandbox.hubspot.object_types import ENGAGEMENTS, SINGULAR
from sandbox.world.catalogue import TIERS

_LIFECYCLE: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
_INDUSTRIES: Final = (
    "COMPUTER_SOFTWARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "RETAIL",
    "EDUCATION_MANAGEMENT",
    "LOGISTICS_AND_SUPPLY_CHAIN",
)
_DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
_DEAL_TYPES: Final = (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))
_DEAL_KINDS: Final = (("new", "New"), ("upsell", "Upsell"), ("cross_sell", "Cross-sell"), ("renewal", "Renewal"))
_CURRENCIES: Final = (("USD", "US Dollar"), ("EUR", "Euro"), ("GBP", "British Pound"), ("JPY", "Japanese Yen"))
_TICKET_STAGES: Final = (("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed"))
_TICKET_PRIORITY: Final = ("LOW", "MEDIUM", "HIGH", "URGENT")
_TASK_STATUS: Final = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
_TASK_PRIORITY: Final = ("NONE", "LOW", "MEDIUM", "HIGH")
_TASK_TYPE: Final = ("TODO", "CALL", "EMAIL", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE")
_CALL_STATUS: Final = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)
_CALL_DIRECTION: Final = ("INBOUND", "OUTBOUND")
_MEETING_OUTCOME: Final = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
_EMAIL_DIRECTION: Final = ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")
_EMAIL_STATUS: Final = ("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")

_Options = Sequence[str | tuple[str, str]]


class Def(NamedTuple):
    """One property definition: HubSpot's standard ones and upsync's custom ones (``custom``).

    ``formula`` makes it a calculated property: read-only through the API, and its value changes
    without touching ``hs_lastmodifieddate`` (see :func:`recalculate`).
    """

    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: _Options = ()
    read_only: bool = False
    custom: bool = False
    formula: str | None = None


def created_field(object_type: str) -> str:
    return "hs_createdate" if object_type in ENGAGEMENTS else "createdate"


def modified_field(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def always_properties(object_type: str) -> tuple[str, ...]:
    """Returned whatever ``properties`` asks for, as the real API does."""
    return (created_field(object_type), modified_field(object_type), "hs_object_id")


# What a read without ``properties`` returns (each object type's documented default set).
DEFAULT_PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "line_items": (
        "amount",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_product_id",
        "name",
        "price",
        "quantity",
    ),
    "tickets": (
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "subject",
    ),
}


def info_group(object_type: str) -> str:
    return f"{SINGULAR.get(object_type, object_type.rstrip('s')).replace('_', '')}information"


def _system_defs(object_type: str) -> list[Def]:
    group = info_group(object_type)
    created, modified = created_field(object_type), modified_field(object_type)
    return [
        Def("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        Def(created, "Create Date", "datetime", "date", group, read_only=True),
        Def(modified, "Last Modified Date", "datetime", "date", group, read_only=True),
        Def("hubspot_owner_id", "Owner", "enumeration", "select", group),
        # Set by HubSpot when a user edits the record in the app (edit_as_user); API writes leave it.
        Def("hs_updated_by_user_id", "Updated by user ID", "number", "number", group, read_only=True),
    ]


def _upsync_company_defs() -> list[Def]:
    """The properties upsync writes back to companies (its own property group)."""
    return [
        Def("upsync_health_score", "Health score", "number", "number", "upsync", custom=True),
        Def("upsync_health_band", "Health band", "string", "text", "upsync", custom=True),
        Def("upsync_expansion_score", "Expansion score", "number", "number", "upsync", custom=True),
        Def("upsync_next_best_action", "Next best action", "string", "textarea", "upsync", custom=True),
        Def("upsync_last_signal", "Last signal", "string", "textarea", "upsync", custom=True),
        Def("upsync_playbook_url", "Playbook URL", "string", "text", "upsync", custom=True),
        Def("upsync_as_of", "Upsync as of", "datetime", "date", "upsync", custom=True),
    ]


def _type_defs(object_type: str, group: str) -> list[Def]:
    """The standard properties of one object type, and the ones upsync reads from it or writes to it."""
    if object_type == "companies":
        return [
            Def("name", "Company name", "string", "text", group),
            Def("domain", "Company Domain Name", "string", "text", group),
            Def("industry", "Industry", "enumeration", "select", group, _INDUSTRIES),
            Def("numberofemployees", "Number of Employees", "number", "number", group),
            Def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE),
            Def("workspace_id", "Workspace ID", "string", "text", group, custom=True),
            Def("upsync_seats_purchased", "Seats purchased", "number", "number", group, custom=True),
            Def("contract_end_date", "Contract end date", "date", "date", group, custom=True),
            Def(
                "health_rollup",
                "Health roll-up",
                "number",
                "calculation_equation",
                group,
                read_only=True,
                custom=True,
                formula="average(associated_deals.hs_deal_health_score)",
            ),
            # Account facts upsync's guards read when configured (G6, G1) and the health score's CSAT. A
            # ``bool`` property has ``fieldType`` ``booleancheckbox`` and two options, Yes → "true" and
            # No → "false"; values read back as those strings, "" when never set
            # (developers.hubspot.com/docs/api/crm/properties, "Property type and fieldType values").
            Def(
                "do_not_contact",
                "Do not contact",
                "bool",
                "booleancheckbox",
                group,
                (("true", "Yes"), ("false", "No")),
                custom=True,
            ),
            Def("nps_score", "NPS score", "number", "number", group, custom=True),
            Def("csat_score", "CSAT score (%)", "number", "number", group, custom=True),
            # An admin's own properties upsync knows nothing of until [hubspot] extra_properties names
            # them: a roll-up of the deals' MRR (recalculated without moving hs_lastmodifieddate) and a tier.
            Def(
                "mrr_rollup",
                "MRR (roll-up)",
                "number",
                "calculation_rollup",
                group,
                read_only=True,
                custom=True,
                formula="sum(associated_deals.mrr)",
            ),
            Def("tier", "Tier", "enumeration", "select", group, TIERS, custom=True),
            *_upsync_company_defs(),
        ]
    if object_type == "contacts":
        return [
            Def("email", "Email", "string", "text", group),
            Def("firstname", "First Name", "string", "text", group),
            Def("lastname", "Last Name", "string", "text", group),
            Def("phone", "Phone Number", "string", "phonenumber", group),
            Def("company", "Company Name", "string", "text", group),
            Def("jobtitle", "Job Title", "string", "text", group),
            Def("department", "Department", "string", "text", group, custom=True),
            Def("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group, _LIFECYCLE),
        ]
    if object_type == "deals":
        return [
            Def("dealname", "Deal Name", "string", "text", group),
            Def("amount", "Amount", "number", "number", group),
            Def("dealstage", "Deal Stage", "enumeration", "radio", group, _DEAL_STAGES),
            Def("pipeline", "Pipeline", "enumeration", "select", group, ("default",)),
            Def("closedate", "Close Date", "datetime", "date", group),
            Def("dealtype", "Deal Type", "enumeration", "radio", group, _DEAL_TYPES),
            # the deal's currency (ISO 4217): the portal's company currency unless multi-currency is on
            Def("deal_currency_code", "Currency", "enumeration", "select", group, _CURRENCIES),
            # a portal's own property saying what a deal sells; filled only in a world whose variant keeps it
            Def("deal_kind", "Deal kind", "enumeration", "select", group, _DEAL_KINDS, custom=True),
            Def("hs_is_closed", "Is Deal Closed?", "bool", "calculation_equation", group, read_only=True),
            Def("hs_is_closed_won", "Is Closed Won", "bool", "calculation_equation", group, read_only=True),
        ]
    if object_type == "products":
        return [
            Def("name", "Name", "string", "text", group),
            Def("description", "Description", "string", "textarea", group),
            Def("hs_sku", "SKU", "string", "text", group),
            Def("price", "Unit price", "number", "number", group),
            Def("product_family", "Product family", "string", "text", group, custom=True),
        ]
    if object_type == "line_items":
        return [
            Def("name", "Name", "string", "text", group),
            Def("hs_product_id", "Product ID", "number", "number", group),
            Def("hs_sku", "SKU", "string", "text", group),
            Def("quantity", "Quantity", "number", "number", group),
            Def("price", "Unit price", "number", "number", group),
            Def("amount", "Net price", "number", "calculation_equation", group, read_only=True),
            # the billing term of a recurring line item, as HubSpot's standard properties name it
            Def("hs_recurring_billing_start_date", "Billing start date", "date", "date", group),
            Def("hs_recurring_billing_end_date", "Billing end date", "date", "date", group, read_only=True),
            Def("hs_term_in_months", "Term", "number", "number", group),
            Def(
                "recurringbillingfrequency",
                "Billing frequency",
                "enumeration",
                "select",
                group,
                (("monthly", "Monthly"), ("quarterly", "Quarterly"), ("annually", "Annually")),
            ),
            # HubSpot's own monthly amount of a recurring line: calculated, read-only
            Def("hs_mrr", "Monthly recurring revenue", "number", "calculation_equation", group, read_only=True),
        ]
    if object_type == "tickets":
        return [
            Def("subject", "Ticket name", "string", "text", group),
            Def("content", "Ticket description", "string", "textarea", group),
            Def("hs_pipeline", "Pipeline", "enumeration", "select", group, (("0", "Support Pipeline"),)),
            Def("hs_pipeline_stage", "Ticket status", "enumeration", "radio", group, _TICKET_STAGES),
            Def("hs_ticket_priority", "Priority", "enumeration", "select", group, _TICKET_PRIORITY),
            Def("closed_date", "Close date", "datetime", "date", group),
        ]
    if object_type == "tasks":
        return [
            Def("hs_timestamp", "Due date", "datetime", "date", group),
            Def("hs_task_subject", "Task Title", "string", "text", group),
            Def("hs_task_body", "Notes", "string", "html", group),
            Def("hs_task_status", "Task Status", "enumeration", "select", group, _TASK_STATUS),
            Def("hs_task_priority", "Priority", "enumeration", "select", group, _TASK_PRIORITY),
            Def("hs_task_type", "Task Type", "enumeration", "select", group, _TASK_TYPE),
            Def("upsync_sync_key", "Upsync sync key", "string", "text", "upsync", custom=True),
        ]
    if object_type == "calls":
        return [
            Def("hs_timestamp", "Activity date", "datetime", "date", group),
            Def("hs_call_title", "Call Title", "string", "text", group),
            Def("hs_call_body", "Call notes", "string", "html", group),
            Def("hs_call_status", "Call status", "enumeration", "select", group, _CALL_STATUS),
            Def("hs_call_direction", "Call direction", "enumeration", "select", group, _CALL_DIRECTION),
            Def("hs_call_duration", "Call duration", "number", "number", group),
        ]
    if object_type == "meetings":
        return [
            Def("hs_timestamp", "Activity date", "datetime", "date", group),
            Def("hs_meeting_title", "Meeting name", "string", "text", group),
            Def("hs_meeting_body", "Meeting description", "string", "html", group),
            Def("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", group, _MEETING_OUTCOME),
            Def("hs_meeting_start_time", "Start time", "datetime", "date", group),
            Def("hs_meeting_end_time", "End time", "datetime", "date", group),
        ]
    if object_type == "emails":
        return [
            Def("hs_timestamp", "Activity date", "datetime", "date", group),
            Def("hs_email_subject", "Email subject", "string", "text", group),
            Def("hs_email_text", "Email body", "string", "textarea", group),
            Def("hs_email_direction", "Email direction", "enumeration", "select", group, _EMAIL_DIRECTION),
            Def("hs_email_status", "Email send status", "enumeration", "select", group, _EMAIL_STATUS),
        ]
    if object_type == "notes":
        return [
            Def("hs_timestamp", "Activity date", "datetime", "date", group),
            Def("hs_note_body", "Note body", "string", "html", group),
        ]
    return []


def standard_defs(object_type: str) -> list[Def]:
    return [*_system_defs(object_type), *_type_defs(object_type, info_group(object_type))]


def required_on_create(object_type: str) -> tuple[str, ...]:
    return ("hs_timestamp",) if object_type in ENGAGEMENTS else ()
