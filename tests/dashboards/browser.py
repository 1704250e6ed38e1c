"""Headless Chromium driven over the DevTools protocol with the stdlib only (tests' helper).

`--remote-debugging-pipe` makes Chromium read commands on fd 3 and write replies/events on fd 4,
each a NUL-terminated JSON message; no websocket library is needed. `Browser.load` opens a file
in a new tab, waits until every plotly chart has drawn (or the deadline passes), and returns what
happened: console errors, uncaught exceptions, every requested URL, probe values, the DOM and a
screenshot. WebGL is not needed (the dashboard draws SVG only).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                  "--window-size=1400,1000", "--remote-debugging-pipe"]
# Charts count as drawn when plotly built its SVG for every .chart div.
CHARTS_DRAWN_JS = """(() => {
  const charts = document.querySelectorAll('.chart');
  const drawn = document.querySelectorAll('.chart.js-plotly-plot .main-svg');
  return {charts: charts.length, drawn: [...charts].filter(c => c.querySelector('.main-svg')).length,
          svgs: drawn.length};
})()"""

# The DOM after scripts ran, minus the script elements (plotly.js alone is 4.8 MB of text).
DOM_WITHOUT_SCRIPTS_JS = """(() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll('script').forEach(s => s.remove());
  return copy.outerHTML;
})()"""


# Per chart: the plotly toolbar's and the title's boxes, and whether they intersect.
TOOLBAR_TITLE_BOXES_JS = """(() => [...document.querySelectorAll('.chart')].map(chart => {
  const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                      return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const bar = box(chart.querySelector('.modebar')), title = box(chart.querySelector('.gtitle'));
  const overlap = !!(bar && title) && !(bar.right <= title.left || title.right <= bar.left ||
                                         bar.bottom <= title.top || title.bottom <= bar.top);
  return {id: chart.id, toolbar: bar, title: title, overlap: overlap};
}))()"""

# A section's box in page coordinates, for a clipped screenshot.
SECTION_BOX_JS = """((selector) => {
  const heading = document.querySelector(selector); if (!heading) return null;
  let end = heading.nextElementSibling;
  while (end && end.nextElementSibling && end.nextElementSibling.tagName !== 'H2') end = end.nextElementSibling;
  const top = heading.getBoundingClientRect().top, last = (end || heading).getBoundingClientRect();
  return {x: 0, y: top + window.scrollY, width: document.documentElement.scrollWidth,
          height: last.bottom - top, scale: 1};
})"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    """What the page did while it loaded."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: dict[str, int] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)
    dom: str = ""
    screenshot_png: bytes = b""
    toolbar_title_boxes: list[dict[str, Any]] = field(default_factory=list)
    section_pngs: dict[str, bytes] = field(default_factory=dict)


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class DevTools:
    """A minimal CDP client over Chromium's debugging pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Move the child's ends above 9 so the shell's redirections to 3 and 4 cannot clobber them.
        to_chrome_r, from_chrome_w = (_high_fd(fd) for fd in (to_chrome_r, from_chrome_w))
        # The child needs the pipes at fds 3 (commands) and 4 (replies): let bash move them there.
        shell = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", shell, chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        """Send one command and wait for its reply, keeping every event that arrives meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise TimeoutError(f"no reply to {method} within {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for a while."""
        deadline = time.monotonic() + seconds
        while (message := self._read_message(deadline)) is not None:
            self.events.append(message)


def _describe_exception(params: dict[str, Any]) -> str:
    details = params.get("exceptionDetails", {})
    exception = details.get("exception", {})
    return str(exception.get("description") or details.get("text") or details)


def _collect(report: PageReport, events: list[dict[str, Any]]) -> None:
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            report.exceptions.append(_describe_exception(params))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            report.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                  for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            report.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            report.requests.append(params.get("request", {}).get("url", ""))


class Browser:
    """One headless Chromium for several pages: `with Browser() as b: report = b.load(path)`."""

    def __init__(self) -> None:
        chromium = chromium_path()
        if chromium is None:
            raise RuntimeError("chromium is not installed (run `make browser`)")
        self._profile = tempfile.TemporaryDirectory(prefix="pgolf-chromium-")
        self._tools = DevTools(chromium, Path(self._profile.name))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tools.close()
        self._profile.cleanup()

    def _evaluate(self, session: str, expression: str) -> Any:
        reply = self._tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return reply.get("result", {}).get("value")

    def load(self, path: Path, probes: dict[str, str] | None = None, timeout: float = 60.0,
             sections: tuple[str, ...] = ()) -> PageReport:
        """Open `path` in a fresh tab, wait until every chart drew (or `timeout`), evaluate `probes`, and
        screenshot the whole page and each section (a heading selector, up to the next <h2>)."""
        tools = self._tools
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        first_event = len(tools.events)
        for domain in ("Network", "Runtime", "Log", "Page"):
            tools.send(f"{domain}.enable", session=session)
        tools.send("Page.navigate", {"url": path.resolve().as_uri()}, session)
        report = PageReport()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report.charts = self._evaluate(session, CHARTS_DRAWN_JS) or {}
            if report.charts.get("drawn") == report.charts.get("charts") and \
                    self._evaluate(session, "document.readyState") == "complete":
                break
            tools.pump(0.25)
        tools.pump(0.5)  # late errors (resize handlers, fonts)
        report.probes = {name: self._evaluate(session, js) for name, js in (probes or {}).items()}
        report.dom = self._evaluate(session, DOM_WITHOUT_SCRIPTS_JS) or ""
        report.toolbar_title_boxes = self._evaluate(session, TOOLBAR_TITLE_BOXES_JS) or []
        shot = tools.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        report.screenshot_png = base64.b64decode(shot["data"])
        for selector in sections:
            clip = self._evaluate(session, f"{SECTION_BOX_JS}({json.dumps(selector)})")
            if clip:
                shot = tools.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                             "clip": clip}, session)
                report.section_pngs[selector] = base64.b64decode(shot["data"])
        _collect(report, [e for e in tools.events[first_event:] if e.get("sessionId") == session])
        tools.send("Target.closeTarget", {"targetId": target})
        return report
