"""`upsync report --html`'s page opened in a real browser (the system's headless Chromium): every
chart painted with marks and a size, no console error, no network request, and a screenshot.

No browser is no pass: the test fails and says how to install one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.browser import INSTALL_HINT, find_chromium, open_report
from bench.report_data import report_of, synthetic
from sync.report import build_page

pytestmark = pytest.mark.e2e

CHARTS = ["trend", "bridge", "funnel", "lift", "health", "owners"]


def test_the_report_renders_every_chart_in_chromium_offline(tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.fail(INSTALL_HINT)
    page_file = tmp_path / "report.html"
    page_file.write_text(build_page(report_of(synthetic(3_000))), encoding="utf-8")
    shot = tmp_path / "report.png"

    with open_report(page_file) as opened:
        opened.page.screenshot(path=str(shot), full_page=True)
        title = opened.page.title()
        headline = opened.page.inner_text("#headline")

    assert title == "Did upsync's work pay off?"
    assert "net revenue retention" in headline.lower() and "%" in headline
    assert [c["name"] for c in opened.charts] == CHARTS
    for chart in opened.charts:
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["marks"] > 0, f"{chart['name']}: an <svg> with no mark drawn"
    assert opened.console_errors == []
    assert opened.requests == [], "the page asked the network for something"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 50_000  # a blank full-page screenshot of this size is a few KB
