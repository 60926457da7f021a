"""The README's references are the code's: the feature table and the shipped rules cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from rules.engine import feature_reference
from tests.unit.accounts import bundled_raw

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_feature_table_is_generated_from_the_catalogue() -> None:
    block = README.split("<!-- features:begin -->\n", 1)[1].split("\n<!-- features:end -->", 1)[0]
    assert block == feature_reference()


def test_every_shipped_rule_is_listed_with_its_signal_and_condition() -> None:
    for rule in bundled_raw()["rules"]:
        row = re.search(rf"^\| `{re.escape(rule['id'])}` \| (S\d+) \| [^|]+ \| `(.+)` \|$", README, re.MULTILINE)
        assert row is not None, f"{rule['id']} is not in the README's table of shipped rules"
        assert (row.group(1), row.group(2)) == (rule["signal"], rule["when"])
