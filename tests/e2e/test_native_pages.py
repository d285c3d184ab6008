"""The pages the README's native quick start sends users to, on the installed (Debian) servers.

Debian's prometheus is built without the React UI, so `/alerts` is 404 and `/classic/alerts` is the page;
Debian's Alertmanager ships no web UI, so alerts are read with `amtool alert query` or the API. If a server
upgrade changes that, these fail and the README's table must change with them.
"""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
import pytest

from .conftest import Server, StartPrometheus

pytestmark = [pytest.mark.e2e]


async def status_and_text(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as response:
        return response.status, await response.text()


async def test_prometheus_serves_the_classic_pages(start_prometheus: StartPrometheus) -> None:
    """`/classic/alerts` lists the shipped rules; `/alerts` is 404 and `/` redirects to `/classic/graph`."""
    prometheus = await start_prometheus([])
    status, page = await status_and_text(f"{prometheus.url}/classic/alerts")
    assert status == 200
    assert "GeminiLiveFailureGlobal" in page
    assert (await status_and_text(f"{prometheus.url}/alerts"))[0] == 404
    async with aiohttp.ClientSession() as http, http.get(prometheus.url, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith("/classic/graph")
    status, body = await status_and_text(f"{prometheus.url}/api/v1/alerts")
    assert (status, '"status":"success"' in body) == (200, True)


async def test_alertmanager_alerts_are_read_with_amtool_and_the_api(alertmanager: Server) -> None:
    """No web UI at `/`; `amtool alert query` and `/api/v2/alerts` show a posted alert."""
    status, page = await status_and_text(f"{alertmanager.url}/")
    assert status == 200
    assert "does not include a web" in page
    alert = {"labels": {"alertname": "GeminiLiveFailureGlobal", "severity": "page", "model": "m"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{alertmanager.url}/api/v2/alerts", json=[alert]) as response:
            assert response.status == 200
        async with http.get(f"{alertmanager.url}/api/v2/alerts") as response:
            assert [a["labels"]["alertname"] for a in await response.json()] == ["GeminiLiveFailureGlobal"]
    query = await asyncio.to_thread(
        subprocess.run,
        ["amtool", "alert", "query", f"--alertmanager.url={alertmanager.url}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert "GeminiLiveFailureGlobal" in query.stdout
