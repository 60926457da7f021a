"""The admin's own CRM fields as features crm.<name>: typed from describe / the properties API, read
with the account, refused where a rule or the config names them wrongly, rendered in templates."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.extra_fields import HUBSPOT_TYPES, SALESFORCE_TYPES, CrmType, resolve
from connectors.hubspot.streams import Companies
from connectors.salesforce.streams import Accounts
from core.errors import ConfigError
from rules import engine
from rules.playbooks import Playbook, render_text
from rules.playbooks.document import TaskContent
from sync.config import compile_rules, parse_config, typed_rules
from tests.unit.accounts import ENV, TODAY, World, bundled_raw, evaluate, feature, fired

DESCRIBE = [  # Account describe fields as an org reports them (type per Schema.DisplayType)
    {"name": "MRR_Rollup__c", "type": "currency"},
    {"name": "Tier__c", "type": "picklist"},
    {"name": "Churn_Flag__c", "type": "boolean"},
    {"name": "Renewal_Date__c", "type": "date"},
    {"name": "Last_QBR__c", "type": "datetime"},
    {"name": "Seats__c", "type": "int"},
    {"name": "Share__c", "type": "percent"},
    {"name": "BillingAddress", "type": "address"},
]
PROPERTIES = [  # company properties as the properties API lists them
    {"name": "mrr_rollup", "type": "number", "fieldType": "calculation_rollup"},
    {"name": "tier", "type": "enumeration", "fieldType": "select"},
    {"name": "is_strategic", "type": "bool", "fieldType": "booleancheckbox"},
    {"name": "renewal_on", "type": "date", "fieldType": "date"},
    {"name": "last_qbr_at", "type": "datetime", "fieldType": "date"},
]


def test_salesforce_describe_types_each_field_as_the_rules_read_it() -> None:
    names = ["mrr_rollup__c", "Tier__c", "Churn_Flag__c", "Renewal_Date__c", "Last_QBR__c", "Seats__c", "Share__c"]
    found, problems = resolve(
        names, DESCRIBE, types=SALESFORCE_TYPES, path="salesforce.extra_fields.Account", owner="Account"
    )
    assert problems == []
    assert found == [  # describe's spelling of the API name, whatever case the config used
        ("MRR_Rollup__c", "number"),
        ("Tier__c", "text"),
        ("Churn_Flag__c", "bool"),
        ("Renewal_Date__c", "date"),
        ("Last_QBR__c", "datetime"),
        ("Seats__c", "number"),
        ("Share__c", "number"),
    ]


def test_hubspot_properties_type_each_property_as_the_rules_read_it() -> None:
    names = ["mrr_rollup", "tier", "is_strategic", "renewal_on", "last_qbr_at"]
    found, problems = resolve(
        names, PROPERTIES, types=HUBSPOT_TYPES, path="hubspot.extra_properties.companies", owner="companies"
    )
    assert problems == []
    assert dict(found) == {
        "mrr_rollup": "number",
        "tier": "text",
        "is_strategic": "bool",
        "renewal_on": "date",
        "last_qbr_at": "datetime",
    }


def test_a_missing_or_unreadable_field_is_named_by_its_key_path_with_a_hint() -> None:
    _, problems = resolve(
        ["Tier__c", "Tiers__c", "BillingAddress"],
        DESCRIBE,
        types=SALESFORCE_TYPES,
        path="salesforce.extra_fields.Account",
        owner="Account",
    )
    assert [(p.path, p.message) for p in problems] == [
        ("salesforce.extra_fields.Account[1]", "Account has no field 'Tiers__c'"),
        ("salesforce.extra_fields.Account[2]", "Account.BillingAddress is of type 'address', which upsync cannot read"),
    ]
    assert all(p.hint for p in problems)


def test_values_are_stored_typed_whichever_path_read_them() -> None:
    extra: tuple[tuple[str, CrmType], ...] = (
        ("MRR_Rollup__c", "number"),
        ("Tier__c", "text"),
        ("Churn_Flag__c", "bool"),
        ("Last_QBR__c", "datetime"),
    )
    stream = Accounts(extra=extra)
    assert {"MRR_Rollup__c", "Tier__c", "Churn_Flag__c", "Last_QBR__c"} <= set(stream.fields)
    base = {"Id": "001A", "SystemModstamp": "2026-05-01T00:00:00.000+0000"}
    rest = {**base, "MRR_Rollup__c": 6000.5, "Tier__c": "Enterprise", "Churn_Flag__c": False, "Last_QBR__c": None}
    bulk = {**base, "MRR_Rollup__c": "6000.5", "Tier__c": "Enterprise", "Churn_Flag__c": "false", "Last_QBR__c": ""}
    want = {"mrr_rollup__c": 6000.5, "tier__c": "Enterprise", "churn_flag__c": False, "last_qbr__c": None}
    assert stream.to_record(rest).values["crm_fields"] == want
    assert stream.to_record(bulk).values["crm_fields"] == want
    company = Companies(extra=(("mrr_rollup", "number"), ("renewal_on", "date")))
    properties = {"hs_lastmodifieddate": "2026-05-01T00:00:00Z", "mrr_rollup": "120"}
    properties["renewal_on"] = "1780272000000"  # a HubSpot date: epoch ms at midnight UTC
    raw = {"id": "1", "properties": properties}
    assert {"mrr_rollup", "renewal_on"} <= set(company.properties)
    assert company.to_record(raw).values["crm_fields"] == {"mrr_rollup": 120.0, "renewal_on": "2026-06-01"}
    assert Accounts().to_record(rest).values["crm_fields"] is None  # none declared: nothing stored


# -- the config and the rules -------------------------------------------------------------------


def raw_config(*rules: dict[str, Any], extra: dict[str, list[str]] | None = None, **sections: Any) -> dict[str, Any]:
    raw = bundled_raw()
    raw["upsync"]["crm"] = "hubspot"
    raw["hubspot"]["extra_properties"] = extra if extra is not None else {"companies": ["mrr_rollup", "tier"]}
    raw["rules"] = [{"id": f"rule-{i}", "kind": "upsell", "playbook": "renewal", **r} for i, r in enumerate(rules)]
    raw.update(sections)
    return raw


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV)
    return [str(p) for p in caught.value.problems]


def test_validate_names_a_crm_field_no_extra_fields_declare() -> None:
    [problem] = problems(raw_config({"when": "crm.mrr_rolup > 5000 and crm.tier == 'Enterprise'"}))
    assert problem.startswith("rules[0] (rule-0).when: unknown CRM field 'crm.mrr_rolup': not declared")
    assert "did you mean 'crm.mrr_rollup'?" in problem
    [problem] = problems(raw_config({"when": "crm.arr > 1"}))
    assert "declare arr under [salesforce.extra_fields] Account or [hubspot.extra_properties] companies" in problem


def test_offline_a_rule_is_refused_only_when_no_crm_type_could_make_it_right() -> None:
    # the types are the CRM's: before it was asked, a rule that some type makes right passes…
    loaded = parse_config(raw_config({"when": "crm.tier == 'Enterprise' and crm.mrr_rollup > 5000"}), ENV)
    assert loaded.ruleset.deferred == ("rule-0",)
    # …and one that none does is refused at once, naming the rule
    [problem] = problems(raw_config({"when": "crm.tier == 'Enterprise' and crm.tier > 10"}))
    assert problem.startswith("rules[0] (rule-0).when:")


def test_the_checker_refuses_a_crm_field_compared_against_its_type() -> None:
    loaded = parse_config(raw_config({"when": "crm.tier > 10"}), ENV)
    types = {"crm.mrr_rollup": "number", "crm.tier": "text"}  # as the properties API typed them
    with pytest.raises(ConfigError) as caught:
        typed_rules(loaded.ruleset, types)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith("rules[0] (rule-0).when: cannot compare text with number")
    with pytest.raises(ConfigError):
        compile_rules(loaded.settings, types)
    typed = typed_rules(parse_config(raw_config({"when": "crm.mrr_rollup > 10"}), ENV).ruleset, types)
    assert typed.deferred == () and typed.ids == ("rule-0",)


def test_only_the_account_object_takes_extra_fields() -> None:
    [problem] = problems(raw_config(extra={"deals": ["amount_rollup"]}))
    assert problem.startswith("hubspot.extra_properties: deals: only companies is supported")
    raw = bundled_raw()
    raw["salesforce"]["extra_fields"] = {"Account": ["Tier__c", "tier__c"]}
    assert any("Account[1] 'tier__c' repeats Account[0]" in p for p in problems(raw))


def test_a_health_weight_on_a_crm_field_must_be_a_declared_number() -> None:
    weights = {"usage": 0.5, "crm.csm_score": 0.5}
    [problem] = problems(raw_config(health={"weights": weights}))
    assert problem.startswith('health.weights."crm.csm_score": unknown CRM field')
    loaded = parse_config(raw_config(health={"weights": {"usage": 0.5, "crm.tier": 0.5}}), ENV)
    with pytest.raises(ConfigError, match=r"crm\.tier is text in the CRM"):
        typed_rules(loaded.ruleset, {"crm.mrr_rollup": "number", "crm.tier": "text"})


# -- evaluation and templates -------------------------------------------------------------------


def typed_ruleset(*rules: dict[str, Any], **sections: Any) -> engine.RuleSet:
    raw = raw_config(*rules, **sections)
    raw["playbooks"] = [{"id": "renewal", "title": "Renewal", "url": "https://example.com/r", "outcome": "{crm.tier}"}]
    return typed_rules(parse_config(raw, ENV).ruleset, {"crm.mrr_rollup": "number", "crm.tier": "text"})


def crm_world() -> World:
    w = World()
    w.customer("big", crm_fields={"mrr_rollup": 6200.0, "tier": "Enterprise"})
    w.customer("small", crm_fields={"mrr_rollup": 900.0, "tier": "SMB"})
    w.customer("unknown")  # stored before extra fields were declared: no values
    return w


def test_a_rule_on_crm_fields_fires_where_they_hold_and_its_templates_render_them() -> None:
    rules = typed_ruleset(
        {
            "when": "crm.tier == 'Enterprise' and crm.mrr_rollup > 5000",
            "subject": "{crm.tier}: {crm.mrr_rollup:,.0f} MRR at {account}",
            "reason": "MRR {crm.mrr_rollup:,.0f}",
            "guards": [],
        }
    )
    ev = evaluate(crm_world(), rules)
    assert fired(ev, "rule-0") == {"big"}
    assert feature(ev, "unknown", "crm.tier") is None
    [action] = engine.actions(ev, rules, system="hubspot", extra=("crm.tier",))
    assert action.subject == "Enterprise: 6,200 MRR at Account big"
    assert action.reasons[0] == "MRR 6,200"
    assert action.evidence["crm.tier"] == "Enterprise"
    playbook = Playbook(id="renewal", title="Renewal", url="https://example.com/r", outcome="a {crm.tier} renewal")
    task = TaskContent(
        account_name="Account big",
        rule_id="rule-0",
        rule_title="Rule",
        kind="upsell",
        signal="",
        reasons=action.reasons,
        owner="",
        lifecycle="",
        evidence=action.evidence,
        key="k" * 64,
        as_of=TODAY,
    )
    assert "Aim for: a Enterprise renewal" in render_text(task, playbook)


def test_a_number_crm_field_is_weighed_in_the_health_score_as_a_component() -> None:
    w = World()
    w.customer("liked", crm_fields={"mrr_rollup": 100.0})
    w.customer("disliked", crm_fields={"mrr_rollup": 0.0})
    w.customer("unasked")
    rules = typed_ruleset({"when": "health > 0", "guards": []}, health={"weights": {"crm.mrr_rollup": 1.0}})
    ev = evaluate(w, rules)
    assert feature(ev, "liked", "health") == 100.0
    assert feature(ev, "disliked", "health") == 0.0
    assert feature(ev, "unasked", "health") is None  # its only component unknown: no score
