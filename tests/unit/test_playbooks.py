"""Playbooks, the renewal sequence and task bodies: hostile, huge and non-Latin data render safely."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from rules.engine.ruleset import EXTRA_FEATURES
from rules.features import FEATURES, LABELS, label_of
from rules.playbooks import (
    RENEWAL_STEPS,
    CaseStudy,
    Offer,
    Options,
    Playbook,
    PriceBand,
    Segments,
    Step,
    StepUp,
    TaskContent,
    Tier,
    features_needed,
    price_band,
    render_html,
    render_subject,
    render_text,
    segment_of,
    sequence_due,
)
from sync.settings import PlaybookSettings, parse_settings
from tests.unit.accounts import ENV, bundled_raw

TODAY = date(2026, 6, 1)
KEY = "0123456789abcdef0123456789abcdef01234567"
FOOTER = f"Created by upsync; sync key {KEY}."

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(1)> javascript:alert(document.cookie)'
SOQL = "O'Brien \\' OR 1=1 --"
JAPANESE = "株式会社テスト"
ARABIC = "شركة الاختبار المحدودة"
EMOJI = "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽"
LONE_SURROGATE = "before\ud800after"
CONTROLS = "a\x00b\x1bc\x7fd\u202eevil\u2066"
BIG = "x" * 100_000
SPICE = ["\ud800", "\ude00", "\u200d", "\ufe0f", "<", ">", "&", '"', "\x00", "\n", "\r", "😀", "テ"]
HOSTILE = f"{XSS} {SOQL} {JAPANESE} {ARABIC} {EMOJI}"


def playbook(**overrides: Any) -> Playbook:
    base: dict[str, Any] = {
        "id": "plan-upgrade",
        "title": "Plan upgrade",
        "url": "https://playbooks.example.com/plan-upgrade",
        "hearing_points": ("What slows the team down?",),
        "demo_order": ("Their reports", "Analytics Pro"),
        "case_studies": (
            CaseStudy(title="Big Co", outcome="went enterprise-wide", segment="enterprise"),
            CaseStudy(title="Small Co", outcome="report from 3 h to 30 min", segment="smb"),
            CaseStudy(title="Any Co", outcome="happier", url="https://cases.example.com/any"),
        ),
        "pricing": {
            "smb": PriceBand(range="$280-$300 per seat", max_discount_pct=5),
            "default": PriceBand(range="by quote", max_discount_pct=10, approval="deal desk"),
        },
        "options": Options(tiers=(Tier(name="Team"), Tier(name="Business"), Tier(name="Enterprise"))),
        "step_up": StepUp(name="Analytics Pro", trial_days=30, then="Business"),
        "outcome": "reports in {minutes} min for {wau:.0f} users",
        "offer": Offer(text="setup fee waived", valid_until=date(2026, 6, 30)),
    }
    base.update(overrides)
    return Playbook(**base)


def content(**overrides: Any) -> TaskContent:
    base: dict[str, Any] = {
        "account_name": "Acme KK",
        "rule_id": "high-weekly-usage",
        "rule_title": "Weekly active users above the plan",
        "kind": "upsell",
        "signal": "S1",
        "reasons": ("42 weekly active users", "also health rising"),
        "owner": "Aiko Tanaka (sales)",
        "lifecycle": "expansion",
        "evidence": {"wau": 42.0, "employees": 50},
        "key": KEY,
        "as_of": TODAY,
    }
    base.update(overrides)
    return TaskContent(**base)


class Checker(HTMLParser):
    """What an HTML parser sees: tags, attributes, nesting and the text."""

    ALLOWED = frozenset({"p", "br", "ul", "li", "strong", "a"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in self.ALLOWED:
            self.problems.append(f"tag {tag}")
        if tag == "a":
            if len(attrs) != 1 or attrs[0][0] != "href" or not (attrs[0][1] or "").startswith(("http://", "https://")):
                self.problems.append(f"a attrs {attrs}")
            self.hrefs.append(attrs[0][1] or "")
        elif attrs:
            self.problems.append(f"{tag} attrs {attrs}")
        if tag == "li" and (not self.stack or self.stack[-1] != "ul"):
            self.problems.append("li outside ul")
        if tag in ("p", "ul") and self.stack:
            self.problems.append(f"{tag} inside {self.stack[-1]}")
        if tag != "br":
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing {tag}")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(out: str, limit: int) -> Checker:
    assert len(out) <= limit and len(out.encode("utf-16-le")) // 2 <= limit
    out.encode("utf-8")  # no lone surrogate survives
    assert "<script" not in out.lower() and "<img" not in out.lower()
    checker = Checker()
    checker.feed(out)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    assert "".join(checker.text).endswith(FOOTER)
    return checker


def check_text(out: str, limit: int) -> None:
    assert len(out) <= limit and len(out.encode("utf-16-le")) // 2 <= limit
    out.encode("utf-8")
    assert out.endswith(FOOTER)
    assert not any(ch in out for ch in "\x00\x1b\x7f\u202e\u2066\r")


def hostile_everywhere(value: str) -> tuple[TaskContent, Playbook]:
    """``value`` in every data position: the content's and the playbook's (URLs aside: validated)."""
    c = content(
        account_name=value,
        rule_title=value,
        kind=value,
        signal=value,
        reasons=(value, value),
        owner=value,
        lifecycle=value,
        evidence={value: value, "wau": value, "employees": 50, "note": value},
        offer=value,
        step=Step(id="demo", title=value, what=value, offset_days=-75),
    )
    p = playbook(
        title=value,
        hearing_points=(value, value),
        demo_order=(value,),
        case_studies=(CaseStudy(title=value, outcome=value, url="https://cases.example.com/x?a=1&b=2", segment="smb"),),
        pricing={"smb": PriceBand(range=value, max_discount_pct=7.5, approval=value)},
        options=Options(current=value, tiers=(Tier(name=value, summary=value, price=value), Tier(name="B"))),
        step_up=StepUp(name=value, trial_days=14, then=value),
        outcome=value.replace("{", "{{").replace("}", "}}") + " {note}",
        offer=Offer(text=value, months=("2026-06",)),
        steps=(Step(id="demo", title=value, offset_days=-75),),
    )
    return c, p


# -- hostile data --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [XSS, SOQL, JAPANESE, ARABIC, EMOJI, LONE_SURROGATE, CONTROLS, HOSTILE, BIG])
def test_hostile_data_in_every_position_renders_safely(value: str) -> None:
    c, p = hostile_everywhere(value)
    text = render_text(c, p)
    check_text(text, 32_000)
    checker = check_html(render_html(c, p), 65_536)
    assert set(checker.hrefs) == {"https://cases.example.com/x?a=1&b=2", "https://playbooks.example.com/plan-upgrade"}
    if value in (XSS, SOQL, JAPANESE, ARABIC, EMOJI, HOSTILE):  # fits: kept verbatim, in text and HTML alike
        assert text.count(value) >= 10
        assert "".join(checker.text).count(value) >= 10


def test_markup_in_data_is_escaped_not_interpreted() -> None:
    out = render_html(content(account_name=XSS, reasons=(SOQL,)), playbook())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in out
    assert "O&#x27;Brien \\&#x27; OR 1=1 --" in out
    assert 'href="javascript' not in out


def test_control_characters_and_lone_surrogates_are_removed() -> None:
    out = render_text(content(account_name=CONTROLS, reasons=(LONE_SURROGATE, "line one\r\nline two")), playbook())
    assert "abcdevil" in out and "before\ufffdafter" in out
    assert "- line one\n  line two" in out  # a newline in data stays, indented under its bullet
    html_out = render_html(content(reasons=("line one\nline two",)), playbook())
    assert "line one<br>line two" in html_out


def test_a_split_surrogate_pair_is_joined() -> None:
    out = render_text(content(account_name="\ud83d\ude00 smile"), playbook())
    assert "😀 smile" in out


@pytest.mark.parametrize("limit", [100, 180, 400, 1_000, 4_000, 32_000])
def test_huge_values_in_every_position_stay_within_any_limit(limit: int) -> None:
    c, p = hostile_everywhere(BIG + JAPANESE + EMOJI)
    check_text(render_text(c, p, limit=limit), limit)
    check_html(render_html(c, p, limit=limit), limit)


def test_emoji_count_twice_as_the_crms_do() -> None:
    c, p = hostile_everywhere("😀" * 50_000)
    for limit in (150, 999, 5_000):
        out = render_text(c, p, limit=limit)
        assert len(out.encode("utf-16-le")) // 2 <= limit
        check_html(render_html(c, p, limit=limit), limit)


def test_long_values_are_cut_with_an_ellipsis_and_the_japanese_name_kept() -> None:
    c = content(account_name=JAPANESE, reasons=("y" * 100_000,))
    out = render_text(c, playbook())
    assert JAPANESE in out
    assert "y" * 100 + "…" in out and "y" * 1_001 not in out


def test_the_least_important_sections_go_first() -> None:
    c = content(reasons=("the reason",))
    full = render_text(c, playbook())
    assert "Proof:" in full and "Show, in this order:" in full
    shorter = render_text(c, playbook(), limit=len(full) - 1)
    assert "Proof:" not in shorter and "Show, in this order:" in shorter and "the reason" in shorter
    short = render_text(c, playbook(), limit=400)
    assert "the reason" in short and "Playbook:" in short and short.endswith(FOOTER)
    assert "Ask:" not in short
    tiny = render_text(c, playbook(), limit=len(FOOTER))
    assert tiny == FOOTER


def test_a_limit_below_the_footer_is_refused() -> None:
    with pytest.raises(ValueError, match="footer"):
        render_text(content(), playbook(), limit=20)


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(alphabet=st.characters() | st.sampled_from(SPICE), max_size=300),
    reason=st.text(alphabet=st.characters() | st.sampled_from(SPICE), max_size=2_000),
    limit=st.integers(min_value=100, max_value=3_000),
)
def test_any_text_at_any_limit_is_well_formed(name: str, reason: str, limit: int) -> None:
    c = content(account_name=name, reasons=(reason,), evidence={name: reason})
    check_text(render_text(c, playbook(), limit=limit), limit)
    check_html(render_html(c, playbook(), limit=limit), limit)


def test_subjects_are_one_clean_line_cut_on_a_character_boundary() -> None:
    assert render_subject("Renewal\nin 30 days\t<b>\x00") == "Renewal in 30 days <b>"
    long = render_subject("👩‍👩‍👧‍👦" * 100, limit=20)
    assert len(long.encode("utf-16-le")) // 2 <= 20 and long.endswith("…")
    assert not long[:-1].endswith("\u200d")
    long.encode("utf-8")
    assert render_subject(JAPANESE * 100)[:7] == JAPANESE
    assert len(render_subject("x" * 1000)) == 255


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.com/x",
        'https://example.com/"><script>alert(1)</script>',
        "https:///no-host",
        "//example.com/x",
        "https://exa mple.com",
    ],
)
def test_playbook_and_case_study_urls_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match=r"^url must be an absolute http"):
        playbook(url=url)
    with pytest.raises(ValueError, match=r"^case_studies.url must be"):
        CaseStudy(title="t", outcome="o", url=url)


def test_config_errors_name_the_playbook_and_key() -> None:
    raw = bundled_raw()
    raw["playbooks"][0]["url"] = "javascript:alert(1)"
    raw["playbooks"][1]["pricing"]["midd"] = {"range": "x"}
    raw["playbooks"][4]["steps"][0]["offset_days"] = 10
    raw["playbooks"][2]["step_up"]["trial_dayz"] = 3
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, ENV)
    found = [f"{p.path}: {p.message}" for p in err.value.problems]
    assert any(f.startswith("playbooks[0] (seat-expansion): url must be an absolute http") for f in found), found
    assert any(f.startswith("playbooks[1] (plan-upgrade): pricing.midd: unknown segment") for f in found), found
    assert any(
        f.startswith(
            "playbooks[4] (renewal).steps[0] (review-outcomes): step review-outcomes: offset_days must be between"
        )
        for f in found
    )
    assert any(f.startswith("playbooks[2] (premium-trial).step_up.trial_dayz: unknown key") for f in found), found


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Options(tiers=(Tier(name="a"),)), "options.tiers must hold 2"),
        (lambda: Options(tiers=(Tier(name="a", recommended=True), Tier(name="b", recommended=True))), "at most one"),
        (lambda: Offer(text="x"), "exactly one of valid_until"),
        (lambda: Offer(text="x", months=("2026-13",)), "offer.months"),
        (lambda: PriceBand(range="x", max_discount_pct=120), "max_discount_pct"),
        (lambda: Step(id="a", title="t"), "exactly one of offset_days"),
        (lambda: Step(id="Bad Id", title="t", offset_days=-1), "step id"),
        (lambda: StepUp(name="x", trial_days=0, then="y"), "trial_days"),
        (lambda: playbook(outcome="{a.__class__}"), "outcome"),
        (lambda: playbook(outcome="{unclosed"), "outcome is not a valid template"),
        (lambda: playbook(outcome="{wau:>1000000000}"), "width and precision go up to 99"),
        (lambda: playbook(outcome="{wau!r}"), "no !conversion"),
        (lambda: playbook(anchor="contract_ends"), "anchor 'contract_ends' must be a date feature"),
        (lambda: playbook(hearing_points=("ok", " ")), r"hearing_points\[1\] must not be empty"),
        (lambda: playbook(steps=RENEWAL_STEPS + RENEWAL_STEPS[:1]), "each step needs its own id"),
        (lambda: Segments(feature="industry"), "segments.feature"),
        (lambda: playbook(case_studies=(CaseStudy(title="t", outcome="o", segment="huge"),)), "segment 'huge'"),
    ],
)
def test_invalid_playbooks_are_refused_with_the_key_named(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_the_shipped_playbooks_load_and_render() -> None:
    settings = parse_settings(bundled_raw(), ENV)
    assert PlaybookSettings is Playbook
    assert settings.playbook("renewal").steps == RENEWAL_STEPS
    assert settings.playbook("plan-upgrade").options is not None
    for p in settings.playbooks:
        c = content(evidence={"employees": 600, "contract_end": "2026-08-30"}, step=p.steps[0] if p.steps else None)
        check_text(render_text(c, p), 32_000)
        check_html(render_html(c, p), 65_536)


# -- the renewal sequence (A4) -------------------------------------------------------------------

RENEWAL = Playbook(id="renewal", title="Renewal", url="https://playbooks.example.com/renewal", steps=RENEWAL_STEPS)
END = date(2026, 9, 30)


def test_a_sequence_started_at_t90_has_each_step_on_its_date() -> None:
    due = sequence_due(RENEWAL, END, END - timedelta(days=90))
    assert [(s.id, d) for s, d in due] == [
        ("review-outcomes", END - timedelta(days=90)),
        ("demo-higher-tier", END - timedelta(days=75)),
        ("share-case", END - timedelta(days=60)),
        ("rough-quote", END - timedelta(days=45)),
        ("higher-tier-trial", date(2026, 9, 1)),  # the renewal month
    ]


def test_a_sequence_started_late_catches_up_today_never_in_the_past() -> None:
    today = END - timedelta(days=80)
    due = dict((s.id, d) for s, d in sequence_due(RENEWAL, END, today))
    assert due["review-outcomes"] == today
    assert due["demo-higher-tier"] == END - timedelta(days=75)
    late = sequence_due(RENEWAL, END, END - timedelta(days=50))
    assert [d for _, d in late][:3] == [END - timedelta(days=50)] * 3
    assert all(d >= END - timedelta(days=50) for _, d in late)


def test_no_steps_once_the_anchor_has_passed() -> None:
    assert sequence_due(RENEWAL, END, END + timedelta(days=1)) == []
    assert all(d == END for _, d in sequence_due(RENEWAL, END, END))


def test_the_renewal_month_step_is_due_on_the_first_of_the_anchor_month() -> None:
    end = date(2027, 2, 28)
    (_, due), *_ = [(s, d) for s, d in sequence_due(RENEWAL, end, date(2026, 11, 1)) if s.in_anchor_month]
    assert due == date(2027, 2, 1)


def test_a_step_in_the_body_says_which_and_against_what() -> None:
    c = content(step=RENEWAL_STEPS[1], evidence={"contract_end": "2026-09-30"})
    out = render_text(c, RENEWAL)
    assert "Step 2 of 5:" in out and "Demo the higher tier (contract_end 2026-09-30)" in out
    assert features_needed(RENEWAL) == ("contract_end",)


# -- segments, offers, options, outcomes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("employees", "segment"),
    [(5, "smb"), (99.5, "smb"), (100, "mid"), (999, "mid"), (1000, "enterprise"), ("250", "mid"), (None, None)],
)
def test_the_segment_follows_employees(employees: Any, segment: str | None) -> None:
    assert segment_of({"employees": employees}) == segment


def test_segment_bounds_are_configurable_and_unknown_falls_back_to_the_default_band() -> None:
    by_arr = Segments(feature="arr", below={"small": 10_000}, top="large")
    assert segment_of({"arr": 5_000}, by_arr) == "small" and segment_of({"arr": 50_000}, by_arr) == "large"
    assert segment_of({}, by_arr) is None and segment_of({"arr": "n/a"}, by_arr) is None
    p = playbook()
    assert price_band(p, {"employees": 20}) == ("smb", p.pricing["smb"])
    assert price_band(p, {"employees": 5000}) == ("default", p.pricing["default"])
    assert price_band(p, {}) == ("default", p.pricing["default"])
    assert price_band(playbook(pricing={"smb": PriceBand(range="x")}), {"employees": 500}) is None


def test_the_price_band_and_discount_ceiling_are_in_the_body() -> None:
    out = render_text(content(evidence={"employees": 20}), playbook())
    assert "Price band (smb): $280-$300 per seat; up to 5% discount without approval" in out
    out = render_text(content(evidence={}), playbook())
    assert "Price band (default): by quote; up to 10% discount without approval; beyond that: deal desk" in out


def test_case_studies_of_the_accounts_segment_come_first() -> None:
    out = render_text(content(evidence={"employees": 20}), playbook())
    assert out.index("Small Co") < out.index("Any Co") < out.index("Big Co")
    out = render_text(content(evidence={"employees": 5000}), playbook())
    assert out.index("Big Co") < out.index("Any Co") < out.index("Small Co")


def test_an_expired_offer_is_not_rendered() -> None:
    offer = Offer(text="setup fee waived", valid_until=date(2026, 6, 30))
    assert "setup fee waived" in render_text(content(as_of=date(2026, 6, 30)), playbook(offer=offer))
    assert "setup fee waived" not in render_text(content(as_of=date(2026, 7, 1)), playbook(offer=offer))
    monthly = Offer(text="first month free", months=("2026-12",))
    assert "first month free" in render_html(content(as_of=date(2026, 12, 31)), playbook(offer=monthly))
    assert "first month free" not in render_html(content(as_of=date(2027, 1, 1)), playbook(offer=monthly))


def test_good_better_best_marks_the_middle_unless_told() -> None:
    out = render_text(content(), playbook())
    assert "- Business (recommended)" in out and "- Team\n" in out
    two = Options(current="Team", tiers=(Tier(name="Business"), Tier(name="Enterprise")))
    assert two.recommended == 0
    out = render_html(content(), playbook(options=two))
    assert "Options over the current plan (Team):" in out
    assert "<li><strong>Business</strong><strong> (recommended)</strong></li>" in out
    chosen = Options(tiers=(Tier(name="a"), Tier(name="b"), Tier(name="c", recommended=True)))
    assert chosen.recommended == 2


def test_the_step_up_bundle_is_offered_before_the_upgrade() -> None:
    out = render_text(content(), playbook())
    assert "Step-up: start with Analytics Pro for a 30-day trial, then Business." in out


def test_the_outcome_template_fills_known_values_and_never_raises() -> None:
    out = render_text(content(evidence={"wau": 42.0}), playbook())
    assert "Aim for: reports in ? min for 42 users" in out
    p = playbook(outcome="{wau:.0%} of {name:.1f}")
    assert "Aim for: 4200% of Acme" in render_text(content(evidence={"wau": 42, "name": "Acme"}), p)
    assert "Aim for: ? of ?" in render_text(content(evidence={"wau": None}), p)
    assert features_needed(playbook()) == ("employees", "minutes", "wau")


def test_settings_alias_and_lookup_still_work() -> None:
    s = parse_settings(bundled_raw(), ENV)
    assert s.playbook("seat-expansion").url == "https://playbooks.example.com/seat-expansion"
    trailing = replace(s.playbook("save"), url="https://playbooks.example.com/save/")
    assert trailing.url == "https://playbooks.example.com/save"


# -- a body in a rep's words ---------------------------------------------------------------------


def test_values_read_as_labels_in_their_formats_and_unknown_ones_are_left_out() -> None:
    evidence: dict[str, Any] = {
        "seats_used": None,
        "seat_utilisation": 0.9,
        "seat_limit": 10.0,
        "wau": float("nan"),
        "contract_end": "2026-09-30",
        "arr": 120000.0,
        "crm.tier__c": "Gold",
        "crm.region__c": "EMEA",
    }
    c = content(reasons=("9 of 10 seats",), evidence=evidence, labels={"crm.tier__c": "Customer tier"})
    out = render_text(c, playbook())
    values = out.split("Values:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert values == [
        "- seat use: 90%",
        "- seat limit: 10",
        "- contract ends: 30 Sep 2026",
        "- annual revenue (ARR): 120,000",
        "- Customer tier: Gold",
        "- region__c: EMEA",  # no label from the CRM: the field's name
    ]
    assert "unknown" not in out and "seats in use" not in out and "weekly active users" not in out
    nothing_known = render_text(content(evidence={"seats_used": None}), playbook())
    assert "Values:" not in nothing_known


def test_the_owner_line_names_the_person_and_the_role() -> None:
    assert "Owner: Aiko Tanaka (sales)\n" in render_text(content(), playbook())
    assert "Owner:" not in render_text(content(owner=""), playbook())


def test_a_playbook_with_nothing_to_offer_has_no_offer_heading_and_its_outcome_is_what_to_aim_for() -> None:
    bare = playbook(options=None, step_up=None, pricing={}, offer=None)
    out = render_text(content(evidence={"wau": 42.0, "minutes": 5}), bare)
    assert "Offer" not in out and "Outcome" not in out
    todo = out.split("What to do:\n", 1)[1].split("\n\n", 1)[0]
    assert todo.endswith("Aim for: reports in 5 min for 42 users")
    html = render_html(content(evidence={"wau": 42.0, "minutes": 5}), bare)
    assert "<strong>Offer</strong>" not in html and "Aim for: reports in 5 min for 42 users" in html


def test_a_single_offer_line_stands_without_a_heading_over_it() -> None:
    bare = playbook(options=None, step_up=None, pricing={}, offer=None)
    out = render_text(content(offer="Business plan"), bare)
    assert "\nOffer: Business plan\n" in out and "Offer:\nOffer:" not in out


def test_a_playbook_with_options_has_an_offer_heading_holding_them() -> None:
    out = render_text(content(), playbook(step_up=None, pricing={}, offer=None))
    offer = out.split("\n\nOffer:\n", 1)[1].split("\n\n", 1)[0]
    assert offer.splitlines() == [
        "Options over the current plan:",
        "- Team",
        "- Business (recommended)",
        "- Enterprise",
    ]


def test_every_feature_a_rule_can_name_has_a_label() -> None:
    named = {f.name for f in FEATURES} | set(EXTRA_FEATURES)
    assert named - set(LABELS) == set()
    assert label_of("crm.mrr_rollup__c", {"crm.mrr_rollup__c": "MRR roll-up"}) == "MRR roll-up"
