"""A real browser opens the report: headless Chromium, driven over the DevTools pipe (stdlib only).

Checks: no console errors or exceptions, no request leaves the machine (only file: and
data: URLs), every SVG chart is laid out with a non-zero size, and a full-page
screenshot is not blank. Skipped when Chromium is missing, unless REQUIRE_BROWSER=1 or
REQUIRE_DOCKER=1 (CI) is set: then a missing browser fails the test.

Run as a script to screenshot a report:
    python tests/test_browser.py reports/index.html shot.png
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout_s: float = 60):
        self.timeout_s = timeout_s
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="bench-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def remap():  # runs in the child: put the pipe ends on fds 3 and 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             "--remote-debugging-pipe", f"--user-data-dir={self._profile}", f"--window-size={width},{height}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=remap, pass_fds=(3, 4),  # kept open after preexec_fn has put the pipes there
        )
        os.close(to_child_r)
        os.close(from_child_w)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], remaining)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = self.session
        os.write(self._to_child, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout_s: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = self._read_message(deadline)
            self.events.append(message)
            if message.get("method") == method:
                return message

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.3)  # let late console messages arrive
        self.call("Runtime.evaluate", {"expression": "1"}, session=True)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path) -> Path:
        import base64

        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width, height = int(size["width"]), int(min(size["height"], 16000))
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
                         session=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return Path(path)

    def problems(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                found.append(f"console.{params['type']}: {[a.get('value', a.get('description')) for a in params.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                found.append(f"failed to load: {params.get('errorText')}")
        return found

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)


def require_chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = "headless Chromium not found (apt-get install chromium, or set CHROMIUM=/path)"
        if os.environ.get("REQUIRE_BROWSER") == "1" or os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(message + "; REQUIRE_BROWSER/REQUIRE_DOCKER is set, so this is a failure")
        pytest.skip(message)
    return binary


def non_blank(png: Path) -> dict:
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        small = rgb.resize((max(1, rgb.width // 4), max(1, rgb.height // 4)))
        import numpy as np

        pixels = np.asarray(small, dtype=np.int32).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    dark = float((pixels.sum(axis=1) < 600).mean())
    return {"colours": colours, "dark_fraction": dark, "size": rgb.size}


def _open_report(tmp_path: Path, fixtures: list[str]):
    from bench.report import write_report

    binary = require_chromium()  # before rendering, so a skip costs nothing
    out = write_report([str(FIXTURES / name) for name in fixtures], out=str(tmp_path / "index.html"))
    browser = DevTools(binary)
    browser.open(out.resolve().as_uri())
    return out, browser


def _check_page(browser: DevTools, shot: Path, min_charts: int) -> None:
    assert browser.problems() == []
    outside = [u for u in browser.requested_urls() if not u.startswith(("file:", "data:", "about:"))]
    assert outside == [], f"the page requested {outside}"
    sizes = browser.evaluate(
        "JSON.stringify([...document.querySelectorAll('figure svg')].map(e => {"
        " const r = e.getBoundingClientRect(); return [r.width, r.height]; }))")
    sizes = json.loads(sizes)
    assert len(sizes) >= min_charts
    assert all(w > 100 and h > 50 for w, h in sizes), sizes
    browser.screenshot(shot)
    facts = non_blank(shot)
    assert facts["size"][1] > 1500
    assert facts["colours"] > 20 and 0.005 < facts["dark_fraction"] < 0.9, facts


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_report_opens_cleanly_in_chromium(tmp_path):
    out, browser = _open_report(tmp_path, ["small.json"])
    try:
        _check_page(browser, tmp_path / "shot.png", min_charts=7)
        assert browser.evaluate("document.querySelectorAll('tr.incorrect').length") == 0
    finally:
        browser.close()


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_multi_file_report_with_an_incorrect_run_opens_cleanly(tmp_path):
    out, browser = _open_report(tmp_path, ["small.json", "small-1cpu.json", "incorrect.json"])
    try:
        _check_page(browser, tmp_path / "shot.png", min_charts=15)
        assert browser.evaluate("document.querySelectorAll('tr.incorrect').length") >= 2
    finally:
        browser.close()


def main(argv: list[str]) -> int:
    """python tests/test_browser.py REPORT.html SHOT.png [WIDTH]"""
    if len(argv) < 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    binary = find_chromium()
    if binary is None:
        print("chromium not found", file=sys.stderr)
        return 1
    browser = DevTools(binary, width=int(argv[2]) if len(argv) > 2 else 1280)
    try:
        browser.open(Path(argv[0]).resolve().as_uri())
        browser.screenshot(argv[1])
        for problem in browser.problems():
            print(problem, file=sys.stderr)
        print(json.dumps(non_blank(Path(argv[1]))))
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
