"""The HTML report in a real browser: the system's Chromium, driven headless by playwright
(no browser download). Used by the browser test, the bench and the README screenshot."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "Opened", "find_chromium", "open_report"]

INSTALL_HINT = (
    "no Chromium found (looked at $UPSYNC_CHROMIUM, chromium, chromium-browser, google-chrome): "
    "install Debian's package with `apt-get update && apt-get install -y chromium` "
    "(.ci/run does), or point UPSYNC_CHROMIUM at a Chromium binary"
)

# every chart's state once painted: its box, the marks drawn in it (vl-convert tags each mark group
# "role-mark"; a mark group with no child drew nothing)
_CHARTS_JS = """
() => [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = svg ? [...svg.querySelectorAll('.role-mark')].reduce((n, g) => n + g.childElementCount, 0) : 0;
  return {name: f.dataset.chart, width: box.width, height: box.height, marks: marks,
          elements: svg ? svg.querySelectorAll('*').length : 0};
})
"""
_PAINTED_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def find_chromium() -> str | None:
    """The Chromium binary to drive: $UPSYNC_CHROMIUM, else the first one on PATH."""
    given = os.environ.get("UPSYNC_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Opened:
    """What the browser saw opening the page."""

    page: Any
    seconds: float
    charts: list[dict[str, Any]]
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def open_report(path: Path, *, width: int = 1100, height: int = 900) -> Iterator[Opened]:
    """Open ``path`` in headless Chromium; every request other than the file itself is recorded
    and refused (the page must need none). Raises RuntimeError with :data:`INSTALL_HINT` if no
    browser is found. ``seconds``: navigation start to the load event and two painted frames."""
    from playwright.sync_api import sync_playwright

    binary = find_chromium()
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    url = path.resolve().as_uri()
    with sync_playwright() as p:
        # --no-sandbox: CI and this machine run as root, where Chromium's sandbox refuses to start
        browser = p.chromium.launch(executable_path=binary, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r: Any) -> None:
                if r.request.url == url:
                    r.continue_()
                else:
                    requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            started = time.perf_counter()
            page.goto(url, wait_until="load")
            page.evaluate(_PAINTED_JS)
            seconds = time.perf_counter() - started
            yield Opened(page, seconds, page.evaluate(_CHARTS_JS), errors, requests)
        finally:
            browser.close()
