import tomllib
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from sync.config import load_config, parse_config
from sync.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {"HUBSPOT_TOKEN": "t", "USAGE_TOKEN": "u", "SALESFORCE_TOKEN": "s"}


def bundled() -> dict[str, Any]:
    return tomllib.loads((ROOT / "config.toml").read_text())


def problems(raw: dict[str, Any], env: dict[str, str] = ENV) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env)
    return [str(p) for p in info.value.problems]


def test_the_bundled_config_is_valid_and_resolves_the_ca_file_next_to_it() -> None:
    settings = load_settings(ROOT / "config.toml", ENV)
    assert settings.upsync.crm == "hubspot"
    assert settings.hubspot is not None and settings.hubspot.ca_file == ROOT / ".sandbox" / "ca.pem"
    assert [r.signal for r in settings.rules] == [
        "S5",
        "S5",
        "S1",
        "S2",
        "S3",
        "S4",
        "S6",
        "S7",
        "S8",
        "S9",
        "S10",
        "S11",
        "S12",
        "S13",
        "S14",
        "S15",
        "S16",
        "S17",
        "S18",
    ]  # every signal of DOMAIN.md ships as a default rule
    assert len(load_config(ROOT / "config.toml", ENV).ruleset.rules) == 19


def test_a_misspelt_key_names_its_path_and_the_closest_valid_key() -> None:
    raw = bundled()
    raw["hubspot"]["sync_key_propery"] = "x"
    assert problems(raw) == ["hubspot.sync_key_propery: unknown key (did you mean 'sync_key_property'?)"]


def test_a_wrong_type_names_its_path_and_the_value() -> None:
    raw = bundled()
    raw["schedule"]["every_minutes"] = "often"
    [problem] = problems(raw)
    assert problem.startswith("schedule.every_minutes: input should be a valid integer")
    assert "'often'" in problem


def test_rule_problems_name_the_rule_by_index_and_id() -> None:
    raw = bundled()
    raw["rules"][0]["priority"] = "urgent"
    raw["rules"][0]["playbook"] = "seat-expansio"
    found = problems(raw)
    assert "rules[0] (seats-near-limit).priority: invalid value 'urgent' (expected 'high', 'normal' or 'low')" in found


def test_an_unknown_playbook_is_reported_with_a_suggestion() -> None:
    raw = bundled()
    raw["rules"][0]["playbook"] = "seat-expansio"
    assert problems(raw) == [
        "rules[0] (seats-near-limit).playbook: unknown playbook 'seat-expansio' (did you mean 'seat-expansion'?)"
    ]


def test_misspelt_key_wrong_type_and_missing_env_var_are_all_reported_together() -> None:
    raw = bundled()
    raw["hubspot"]["base_ur"] = "https://x"
    raw["usage"]["page_size"] = "lots"
    found = problems(raw, env={"HUBSPOT_TOKEN": "t"})
    assert len(found) == 3
    assert any(p.startswith("hubspot.base_ur: unknown key (did you mean 'base_url'?)") for p in found)
    assert any(p.startswith("usage.page_size:") for p in found)
    assert any(p.startswith("usage.token_env: environment variable USAGE_TOKEN is not set") for p in found)


def test_the_secret_itself_is_refused_in_token_env() -> None:
    raw = bundled()
    raw["hubspot"]["token_env"] = "pat-na1-1234-abcd"
    [problem] = problems(raw)
    assert problem.startswith("hubspot.token_env: must be the NAME of an environment variable")


def test_the_chosen_crm_needs_its_section() -> None:
    raw = bundled()
    raw["upsync"]["crm"] = "salesforce"
    del raw["salesforce"]
    assert problems(raw) == ["salesforce: section [salesforce] is required because upsync.crm = 'salesforce'"]


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[upsync\ncrm = 1")
    with pytest.raises(ConfigError) as info:
        load_settings(path, ENV)
    assert str(path) in str(info.value) and "not valid TOML" in str(info.value)


def test_every_kind_of_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    """A schema error no longer hides the rules, the playbook references and the files behind it."""
    raw = bundled()
    raw["schedule"]["every_minutes"] = "often"  # schema
    for section in ("salesforce", "usage"):
        raw[section].pop("ca_file", None)
    raw["hubspot"]["ca_file"] = "no/such/ca.pem"  # a missing file
    raw["rules"][0]["when"] = "seat_utilization >= 80%"  # a rule expression
    raw["rules"][1]["playbook"] = "seat-expansio"  # a playbook reference
    raw["rules"][2]["kind"] = "upsel"  # a rule's own schema error: that rule aside, the others are checked
    raw["playbooks"][1]["url"] = "not a url"  # a playbook's own schema error: rules naming it are not blamed
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ENV, base_dir=tmp_path, files=True)
    found = {p.path: p.message for p in info.value.problems}
    assert found.keys() == {
        "schedule.every_minutes",
        "hubspot.ca_file",
        f"rules[0] ({raw['rules'][0]['id']}).when",
        f"rules[1] ({raw['rules'][1]['id']}).playbook",
        f"rules[2] ({raw['rules'][2]['id']}).kind",
        f"playbooks[1] ({raw['playbooks'][1]['id']})",
    }, found
    assert "seat_utilization" in found[f"rules[0] ({raw['rules'][0]['id']}).when"]


def test_a_broken_upsync_section_still_lets_the_rules_be_checked() -> None:
    raw = bundled()
    raw["upsync"]["crm"] = "pipedrive"
    raw["rules"][0]["when"] = "seat_utilization >= 80%"
    paths = [p.split(":")[0] for p in problems(raw)]
    assert "upsync.crm" in paths and "rules[0] (seats-near-limit).when" in paths


def test_an_optional_field_is_switched_off_with_false_and_true_names_no_field() -> None:
    raw = bundled()
    raw["hubspot"]["seats_property"] = False
    raw["hubspot"]["nps_property"] = ""  # the older spelling
    raw["usage"].setdefault("fields", {})["seats_limit"] = False
    settings = parse_config(raw, ENV).settings
    assert settings.hubspot is not None and settings.usage is not None
    assert (settings.hubspot.seats_property, settings.hubspot.nps_property) == (None, None)
    assert settings.usage.fields.seats_limit is None
    assert "hubspot.seats_property" not in settings.hubspot.read_properties()
    raw["hubspot"]["csat_property"] = True
    [problem] = problems(raw)
    assert problem.startswith("hubspot.csat_property: true names no field")
