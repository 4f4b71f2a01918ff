"""Browser tests: Playwright for Python driving Debian's Chromium against the live server, the real
worker and the sandbox (the `stack` of tests/stack_support.py).

Debian's Chromium, not a Playwright build: Playwright's own builds cannot decode H.264, and nothing
may be downloaded but Debian packages. Screenshots of each important step are kept in
test-artifacts/browser/ (gitignored), named after the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: two cores shared with a worker, the sandbox rendering video and the live server.
TIMEOUT_MS = 30_000


def _install_chromium() -> None:
    # What CI does too (.ci/run): Debian's package, through apt.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _install_chromium()
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is still missing after apt-get install chromium"
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on this thread while it is started, which
    # trips Django's async-safety guard on every ORM call the tests make. Allowed only while the
    # browser package runs; the loop (and the allowance) end with it, before any other test folder.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        try:
            launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                yield launched
            finally:
                launched.close()
        finally:
            playwright.stop()


class Shots:
    """Numbered screenshots of one test: test-artifacts/browser/<test>/<nn>-<step>.png."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def take(self, page, step: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def shots(request) -> Shots:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return Shots(folder)


@pytest.fixture
def browser_locale() -> str:
    """The browser's language (its Accept-Language); a test parametrizes it to be someone else."""
    return "en-US"


@pytest.fixture
def page(browser, shots, request, browser_locale) -> Iterator:
    """A fresh browser context (no cookies) and page; a failing test leaves a last screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=browser_locale)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    console: list[str] = []
    tab.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        yield tab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            try:
                shots.take(tab, "failure")
            except Exception:  # noqa: BLE001 - the page may be gone; the test's own error matters more
                pass
            (shots.folder / "console.log").write_text("\n".join(console))
        context.close()
    # Script errors are bugs even when every assertion held.
    errors = [line for line in console if line.startswith("pageerror")]
    assert not errors, "script errors on the page:\n" + "\n".join(errors)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def sign_in(page, base_url: str, username: str, password: str, t=lambda text: text) -> None:
    """The login page, as a person fills it; `t` translates the labels for the page's language."""
    page.goto(base_url + "/login/")
    page.get_by_label(t("Username"), exact=True).fill(username)
    page.get_by_label(t("Password"), exact=True).fill(password)
    page.get_by_role("button", name=t("Sign in")).click()
    page.locator("form[action='/logout/']").wait_for()
