"""A real headless Chromium, driven over the Chrome DevTools Protocol with aiohttp's websocket client.

No browser-automation dependency: Debian's `chromium` (scripts/install-servers.sh) started with
`--remote-debugging-port=0`, its port read from `DevToolsActivePort`, and the handful of CDP commands the
status-page test and the screenshot script need: navigate, evaluate, a real mouse click, a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["CHROMIUM", "Browser", "open_browser"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_START_BUDGET = 30.0
_COMMAND_BUDGET = 30.0


class Browser:
    """One page of a headless Chromium."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result, skipping the events that arrive meanwhile."""
        command_id = next(self._ids)
        await self._ws.send_json({"id": command_id, "method": method, "params": params})
        async with asyncio.timeout(_COMMAND_BUDGET):
            while True:
                message = await self._ws.receive_json()
                if message.get("id") == command_id:
                    if "error" in message:
                        raise RuntimeError(f"CDP {method} failed: {message['error']}")
                    result: dict[str, Any] = message.get("result", {})
                    return result

    async def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        reply = await self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Load `url` and wait for its load event (Page.navigate returns once the navigation committed)."""
        reply = await self.command("Page.navigate", url=url)
        if "errorText" in reply:
            raise RuntimeError(f"navigating to {url} failed: {reply['errorText']}")
        await self.evaluate(
            "new Promise(done => document.readyState === 'complete'"
            " ? done(true) : addEventListener('load', () => done(true)))",
            await_promise=True,
        )

    async def click(self, selector: str) -> None:
        """A real left click (mouse pressed and released) at the centre of the element."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({selector!r});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.command(
                "Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1
            )

    async def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = await self.evaluate("document.documentElement.scrollHeight")
            width = await self.evaluate("document.documentElement.clientWidth")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            params["captureBeyondViewport"] = True
        reply = await self.command("Page.captureScreenshot", **params)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(reply["data"]))


@contextlib.asynccontextmanager
async def open_browser(*, width: int = 1280, height: int = 1600) -> AsyncIterator[Browser]:
    """Start headless Chromium on an ephemeral debugging port; stop it (and only it) on exit."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed: run scripts/install-servers.sh")
    profile = Path(tempfile.mkdtemp(prefix="live-monitor-chromium-"))
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port = await _debugging_port(profile / "DevToolsActivePort", process)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                browser = Browser(ws)
                await browser.command("Page.enable")
                yield browser
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _debugging_port(active_port: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes its chosen port to DevToolsActivePort once it listens; wait for that file."""
    async with asyncio.timeout(_START_BUDGET):
        while (port := await asyncio.to_thread(_read_port, active_port)) is None:
            if process.returncode is not None:
                raise RuntimeError(f"chromium exited with {process.returncode} before opening its port")
            await asyncio.sleep(0.05)
    return port


def _read_port(active_port: Path) -> int | None:
    try:
        lines = active_port.read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[0]) if len(lines) >= 2 else None
