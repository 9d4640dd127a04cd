"""Driving Debian's Chromium through Playwright (sync API) for the real-browser tests.

The browser is the system's ``/usr/bin/chromium`` (``tests/peers/install-peers.sh``), never a
Playwright download. A :class:`Visit` is one page in one fresh browser context (its own cookies
and storage) of one :class:`Device`: it collects console errors and uncaught page errors, saves a
full-page screenshot of every page it is asked to, and checks that a phone never scrolls sideways.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, missing_peer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# The app serves no icon and its pages name none, so Chromium's own request for one answers 404.
# That is the browser's doing, not a page's: it is the one console error let through.
FAVICON = "/favicon.ico"
# UKETSUKE_SCREENSHOTS=docs/screenshots copies the named screenshots into the repository.
SCREENSHOTS_VARIABLE = "UKETSUKE_SCREENSHOTS"


@dataclass(frozen=True)
class Device:
    name: str
    width: int
    height: int
    mobile: bool

    def context_options(self) -> dict[str, Any]:
        return {
            "viewport": {"width": self.width, "height": self.height},
            "is_mobile": self.mobile,
            "has_touch": self.mobile,
            "device_scale_factor": 1,
            "locale": "ja-JP",
            "timezone_id": "Asia/Tokyo",
        }


DESKTOP = Device("desktop", 1280, 900, mobile=False)
PHONE = Device("phone", 375, 812, mobile=True)
DEVICES = (DESKTOP, PHONE)


@contextmanager
def chromium() -> Iterator[Any]:
    """The system Chromium, headless; a missing browser or driver is a missing peer."""
    if not os.access(CHROMIUM, os.X_OK):
        missing_peer(f"{CHROMIUM} is not installed (tests/peers/install-peers.sh)")
    from playwright.sync_api import Error, sync_playwright

    try:
        driver = sync_playwright().start()
    except Exception as exc:  # the driver is a Node process shipped in the wheel
        missing_peer(f"Playwright's driver cannot start: {exc}")
    try:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Error as exc:
        driver.stop()
        missing_peer(f"{CHROMIUM} cannot be launched by Playwright: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        driver.stop()


@dataclass
class Visit:
    """One page of one device; ``shot`` after each page reached, ``close`` at the end."""

    context: Any
    page: Any
    device: Device
    folder: Path
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Any, device: Device, folder: Path) -> Visit:
        context = browser.new_context(**device.context_options())
        context.set_default_timeout(15_000)
        visit = cls(context, context.new_page(), device, folder)
        visit.page.on("console", visit._console)
        visit.page.on("pageerror", lambda error: visit.errors.append(f"pageerror: {error}"))
        return visit

    def _console(self, message: Any) -> None:
        url = message.location.get("url") or ""
        if message.type != "error" or url.endswith(FAVICON):
            return
        if not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console: {message.text} ({url})")

    def allow(self, pattern: str) -> None:
        """A console error the test expects (e.g. the 410 of a used close link)."""
        self.allowed.append(re.compile(pattern))

    def shot(self, name: str) -> Path:
        """A full-page PNG ``<nn>-<device>-<name>.png``; on a phone, no sideways scrolling."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.shots) + 1:02d}-{self.device.name}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        if self.device.mobile:
            fits = self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            width = self.page.evaluate("document.documentElement.scrollWidth")
            assert fits, f"{name} scrolls sideways at {self.device.width}px (scrollWidth {width})"
        return path

    def publish(self, path: Path, name: str) -> None:
        """Copy a screenshot to ``$UKETSUKE_SCREENSHOTS/<name>-<device>.png`` when that is set."""
        target = os.environ.get(SCREENSHOTS_VARIABLE)
        if not target:
            return
        folder = Path(target) if Path(target).is_absolute() else ROOT / target
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"{name}-{self.device.name}.png")

    def close(self) -> None:
        self.context.close()
