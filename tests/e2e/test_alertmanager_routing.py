"""The shipped Alertmanager routing on a real Alertmanager: receivers by severity, grouping, inhibition.

Alerts are posted to Alertmanager's own API (as Prometheus does) with the labels the shipped rules produce;
the webhook fixture stands in for the page and ticket receivers (same paths as the shipped config).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from .conftest import Server, Webhook

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def alert(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {"summary": alertname, "description": f"{alertname} {labels}"},
        "generatorURL": "http://prometheus.invalid/graph",
    }


async def post(alertmanager: Server, alerts: list[dict[str, Any]]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{alertmanager.url}/api/v2/alerts", json=alerts) as response,
    ):
        assert response.status == 200, await response.text()


def delivered(webhook: Webhook) -> set[tuple[str, str, str, str]]:
    """(receiver path, alertname, model, vantage) of every firing alert the receivers got."""
    return {
        (a["_path"], a["labels"]["alertname"], a["labels"].get("model", ""), a["labels"].get("vantage", ""))
        for a in webhook.alerts()
    }


async def test_pages_and_tickets_go_to_their_receivers_grouped_per_model(
    alertmanager: Server, webhook: Webhook
) -> None:
    await post(
        alertmanager,
        [
            alert("GeminiLiveFailureBurst", "page", model="m1", vantage="a", endpoint="gemini-api"),
            alert("GeminiLiveFailureBurst", "page", model="m1", vantage="c", endpoint="gemini-api"),
            alert("GeminiLiveFailureBurst", "page", model="m2", vantage="a", endpoint="gemini-api"),
            alert("GeminiLiveAliasDiverged", "ticket", model="m1", vantage="a", endpoint="gemini-api"),
            alert("GeminiLiveProbeCredentials", "ticket", model="m2", vantage="a", cause="quota"),
        ],
    )
    await webhook.wait_for(lambda n: len(n) >= 4, within=20)
    await asyncio.sleep(2)
    assert delivered(webhook) == {
        ("/alerts/page", "GeminiLiveFailureBurst", "m1", "a"),
        ("/alerts/page", "GeminiLiveFailureBurst", "m1", "c"),
        ("/alerts/page", "GeminiLiveFailureBurst", "m2", "a"),
        ("/alerts/ticket", "GeminiLiveAliasDiverged", "m1", "a"),
        ("/alerts/ticket", "GeminiLiveProbeCredentials", "m2", "a"),
    }
    # One notification per (alertname, model): m1's two vantages arrive together.
    groups = sorted(
        (n["_path"], tuple(sorted(n["groupLabels"].items())), len(n["alerts"])) for n in webhook.notifications
    )
    assert groups == [
        ("/alerts/page", (("alertname", "GeminiLiveFailureBurst"), ("model", "m1")), 2),
        ("/alerts/page", (("alertname", "GeminiLiveFailureBurst"), ("model", "m2")), 1),
        ("/alerts/ticket", (("alertname", "GeminiLiveAliasDiverged"), ("model", "m1")), 1),
        ("/alerts/ticket", (("alertname", "GeminiLiveProbeCredentials"), ("model", "m2")), 1),
    ]


async def test_monitor_down_and_global_failure_inhibit_the_per_model_alerts(
    alertmanager: Server, webhook: Webhook
) -> None:
    # Inhibition needs the source alert in Alertmanager before the target is grouped.
    await post(
        alertmanager,
        [
            alert("GeminiLiveMonitorDown", "page", job="gemini-live-monitor", instance="b:9478", vantage="b"),
            alert("GeminiLiveFailureGlobal", "page", model="m3", endpoint="gemini-api", scope="global"),
        ],
    )
    await webhook.wait_for(lambda n: len(n) >= 2, within=20)
    await post(
        alertmanager,
        [
            # Vantage b is down: its per-model alerts are inhibited; vantage a's are not.
            alert("GeminiLiveFailureBurst", "page", model="m2", vantage="b", endpoint="gemini-api"),
            alert("GeminiLiveNoProbeTurns", "page", model="m2", vantage="b"),
            alert("GeminiLiveFailureBurst", "page", model="m4", vantage="a", endpoint="gemini-api"),
            # m3 fails from every vantage: the global page replaces the per-vantage bursts.
            alert("GeminiLiveFailureBurst", "page", model="m3", vantage="a", endpoint="gemini-api"),
            alert("GeminiLiveFailureBurst", "page", model="m3", vantage="c", endpoint="gemini-api"),
        ],
    )
    await webhook.wait_for(
        lambda n: any(a["labels"].get("model") == "m4" for x in n for a in x["alerts"]), within=20
    )
    await asyncio.sleep(3)
    assert delivered(webhook) == {
        ("/alerts/page", "GeminiLiveMonitorDown", "", "b"),
        ("/alerts/page", "GeminiLiveFailureGlobal", "m3", ""),
        ("/alerts/page", "GeminiLiveFailureBurst", "m4", "a"),
    }
