"""A real browser for the web app's tests: Debian's Chromium driven by Playwright.

Never skipped: a machine without /usr/bin/chromium fails these tests with the command
that installs it (`.ci/run` installs it on CI).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: where the screenshots go: docs/screenshots with HHU_SYNC_SCREENSHOTS=1 (to renew the
#: README's pictures), else a scratch folder (a test run leaves the checkout as it was)
SHOTS = DOCS_SHOTS if os.environ.get("HHU_SYNC_SCREENSHOTS") == "1" else \
    Path(tempfile.gettempdir()) / "hhu-sync-screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per module. Not per session: Playwright's synchronous API runs an
    event loop on this thread while it is open, and every later test's asyncio.run()
    would find it running."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium (the browser tests need it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs          # an alert() from injected markup would land here
    yield pg
    context.close()


def shoot(page, name: str) -> None:
    """A screenshot for docs/screenshots (the README shows them)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
