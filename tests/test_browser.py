"""The built book in a real browser: headless Chromium opens every page of a ``--small`` build.

Checks, on every page: no console error and no failed request from the book itself; every ``<img>``
loaded with a non-zero size; every ``<audio>`` source fetched and decoded by the browser's own audio
decoder; the provenance stamps open when clicked. The search page finds "genre".

Chromium comes from the distribution's packages (``apt-get install chromium``, done by ``.ci/run``);
without it the tests skip and say so. The book is the session's ``small_book`` (conftest.py): built with
``llmmusic book --small`` in a temporary copy of the sources, unless ``LLMMUSIC_BOOK_SRC`` names the
source folder of a book already built that way (``.`` after ``llmmusic book --small``).
With ``LLMMUSIC_SCREENSHOTS=DIR`` a screenshot of each page is written to DIR.

The pages are served from 127.0.0.1; requests to other hosts (a CDN's MathJax, say) are not part of
the built book and cannot be reached offline, so their failures are not counted.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SKIPPED_DIRS = {"_static", "_sources", "_downloads", "_images", "media"}


def chromium_binary() -> str | None:
    """The Chromium executable on PATH (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# ---------------------------------------------------------------------------------------- the browser
class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol (websocket via tornado)."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-extensions", "--mute-audio", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = self._devtools_port(timeout_s=90)
            from urllib.request import urlopen

            with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
                target = next(t for t in json.load(reply) if t["type"] == "page")
            self.loop = asyncio.new_event_loop()
            self.ws = self.loop.run_until_complete(self._connect(target["webSocketDebuggerUrl"]))
            self.next_id = 0
            self.events: list[dict[str, Any]] = []
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
        except BaseException:  # no browser left behind by a failed start
            self.proc.kill()
            self.proc.wait()
            raise

    def _devtools_port(self, timeout_s: float) -> int:
        assert self.proc.stderr is not None
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained
                return int(m.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"chromium did not start (exit code {self.proc.poll()})")

    @staticmethod
    async def _connect(url: str) -> Any:
        from tornado.websocket import websocket_connect

        return await websocket_connect(url, max_message_size=256 * 1024 * 1024)

    async def _send(self, text: str) -> None:
        await self.ws.write_message(text)

    async def _read(self, timeout_s: float) -> str | None:
        return await asyncio.wait_for(self.ws.read_message(), timeout_s)

    def _receive(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            text = self.loop.run_until_complete(self._read(timeout_s))
        except asyncio.TimeoutError:
            return None
        if text is None:
            raise RuntimeError("chromium closed the DevTools connection")
        return json.loads(text)

    def call(self, method: str, timeout_s: float = 60, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and wait for its result (events meanwhile go to ``events``)."""
        self.next_id += 1
        self.loop.run_until_complete(self._send(json.dumps({"id": self.next_id, "method": method, "params": params})))
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            message = self._receive(max(0.1, end - time.monotonic()))
            if message is None:
                break
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"{method}: no answer in {timeout_s} s")

    def wait_event(self, method: str, timeout_s: float = 60, after: int = 0) -> None:
        """Wait until ``method`` is among the events (from index ``after`` on)."""
        end = time.monotonic() + timeout_s
        while not any(e.get("method") == method for e in self.events[after:]):
            if time.monotonic() > end:
                raise TimeoutError(f"no {method} in {timeout_s} s")
            message = self._receive(0.5)
            if message is not None:
                self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` (late console messages, late requests)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            message = self._receive(max(0.05, end - time.monotonic()))
            if message is not None:
                self.events.append(message)

    def open(self, url: str) -> None:
        """Navigate and wait for the load, following a client-side redirect (``index.html`` is a meta refresh
        to the intro) until the page stays: scripts then run in the page that is shown, not in one going away."""
        self.events = []
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        for _ in range(5):
            seen = len(self.events)
            self.drain(0.5)
            if not any(e.get("method") == "Page.frameStartedLoading" for e in self.events[seen:]):
                return
            self.wait_event("Page.loadEventFired", after=seen)

    def evaluate(self, expression: str, timeout_s: float = 60) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        result = self.call("Runtime.evaluate", timeout_s=timeout_s, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.write_bytes(base64.b64decode(data))

    def errors(self, origin: str) -> list[str]:
        """Console errors, uncaught exceptions and failed requests of the page, from ``origin`` only."""
        found = []
        failed_ids = {}
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                found.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}".strip())
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                url = p["entry"].get("url") or ""
                if url == f"{origin}/favicon.ico":  # asked for by the browser itself, not by the page
                    continue
                if not url or url.startswith(origin):
                    found.append(f"log: {p['entry']['text']} {url}".strip())
            elif method == "Network.requestWillBeSent":
                failed_ids[p["requestId"]] = p["request"]["url"]
            elif method == "Network.loadingFailed" and not p.get("canceled"):
                url = failed_ids.get(p["requestId"], "")
                if url.startswith(origin) and url != f"{origin}/favicon.ico":
                    found.append(f"request failed: {url} ({p.get('errorText')})")
        return found

    def close(self) -> None:
        try:
            self.ws.close()
            self.loop.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium on PATH (install the distribution's package: apt-get install chromium)")
    chrome = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chrome
    chrome.close()


@pytest.fixture(scope="module")
def html(browser: Chromium, small_book: tuple[Path, dict]) -> Path:  # no browser: skipped before any build
    return small_book[0] / "book" / "_build" / "html"


@pytest.fixture(scope="module")
def site(html: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def built_pages(html: Path) -> list[str]:
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not SKIPPED_DIRS & set(p.relative_to(html).parts[:-1]) and p.name != "search.html")


# ---------------------------------------------------------------------------------------- checks
IMAGES = """(async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 20000); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth, h: i.naturalHeight, done: i.complete}));
})()"""

AUDIO = """(async () => {
  const urls = Array.from(document.querySelectorAll('audio')).flatMap(a =>
    [a.currentSrc || a.src, ...Array.from(a.querySelectorAll('source')).map(s => s.src)]).filter(u => u);
  const out = [];
  for (const url of [...new Set(urls)]) {
    try {
      const reply = await fetch(url);
      if (!reply.ok) { out.push({url, error: 'HTTP ' + reply.status}); continue; }
      const bytes = await reply.arrayBuffer();
      const audio = await new OfflineAudioContext(1, 8000, 8000).decodeAudioData(bytes);
      out.push({url, bytes: bytes.byteLength, seconds: audio.duration});
    } catch (e) { out.push({url, error: String(e)}); }
  }
  return out;
})()"""

DETAILS = """(() => {
  const all = Array.from(document.querySelectorAll('div.provenance details'));
  return all.map(d => { d.querySelector('summary').click();
                        const body = d.querySelector('dl');
                        return {open: d.open, height: body ? body.getBoundingClientRect().height : 0}; });
})()"""


def test_every_page_loads_its_images_audio_and_stamps(browser: Chromium, html: Path, site: str) -> None:
    pages = built_pages(html)
    assert "index.html" in pages and any(p.startswith("book/executed/") for p in pages), pages
    shots = Path(os.environ["LLMMUSIC_SCREENSHOTS"]) if os.environ.get("LLMMUSIC_SCREENSHOTS") else None
    problems: list[str] = []
    counts = {"images": 0, "audio": 0, "stamps": 0}
    for page in pages:
        browser.open(f"{site}/{page}")
        images = browser.evaluate(IMAGES)
        audio = browser.evaluate(AUDIO, timeout_s=180)
        stamps = browser.evaluate(DETAILS)
        browser.drain(0.3)
        problems += [f"{page}: {e}" for e in browser.errors(site)]
        problems += [f"{page}: image not loaded: {i['src']}" for i in images if not (i["w"] > 0 and i["h"] > 0)]
        problems += [f"{page}: audio {a['url']}: {a.get('error') or 'decodes to 0 s'}"
                     for a in audio if a.get("error") or not a.get("seconds", 0) > 0]
        problems += [f"{page}: a provenance stamp does not open" for s in stamps if not (s["open"] and s["height"] > 0)]
        counts["images"] += len(images)
        counts["audio"] += len(audio)
        counts["stamps"] += len(stamps)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            browser.evaluate("window.scrollTo(0, 0)")
            browser.screenshot(shots / (page.replace("/", "__").removesuffix(".html") + ".png"))
    assert not problems, "\n".join(problems)
    assert counts["images"] and counts["audio"] and counts["stamps"], counts  # the checks saw something


def test_search_finds_genre(browser: Chromium, site: str) -> None:
    browser.open(f"{site}/search.html?q=genre")
    found = 0
    end = time.monotonic() + 60
    while time.monotonic() < end and not found:
        found = browser.evaluate("document.querySelectorAll('#search-results li, ul.search li').length")
        if not found:
            time.sleep(0.5)
    assert found > 0, "the search page found nothing for 'genre'"
    assert not browser.errors(site), browser.errors(site)
