"""Seeded probe records shaped like incident 000, for the timeline and report tests."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult

START = datetime(2026, 5, 27, 16, 0, tzinfo=UTC)
ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
INTERVAL = timedelta(seconds=30)


def incident_records(*, onset_index: int = 300, total: int = 400, seed: int = 1) -> list[ProbeResult]:
    """The alias goes from 1% to 85% 1011s at `onset_index`; the pinned model stays clean."""
    rng = np.random.default_rng(seed)
    records = []
    for model, after in ((ALIAS, 0.85), (PINNED, 0.0)):
        for i in range(total):
            failed = bool(rng.random() < (0.01 if i < onset_index or model == PINNED else after))
            if model == PINNED:
                failed = False
            records.append(_record(model, i, failed))
    records.append(
        ProbeResult(
            run_id="prober-bug",
            started_at=START + 5 * INTERVAL,
            vantage="us-west-a",
            endpoint="gemini-api",
            model=ALIAS,
            probe=ProbeKind.TEXT,
            outcome=Outcome.PROBER_ERROR,
        )
    )
    return records


def _record(model: str, i: int, failed: bool) -> ProbeResult:
    common = {
        "run_id": f"{model}-{i}",
        "started_at": START + i * INTERVAL,
        "vantage": "us-west-a",
        "endpoint": "gemini-api",
        "model": model,
        "probe": ProbeKind.TEXT,
    }
    if failed:
        return ProbeResult(
            **common,  # type: ignore[arg-type]
            outcome=Outcome.SERVER_CLOSE,
            cause=Cause.INTERNAL,
            code=1011,
            phase=Phase.FIRST_RESPONSE,
            close_reason="Internal error encountered.",
            close_initiator="server",
            timings={
                TimingPhase.CONNECT: 0.08,
                TimingPhase.SETUP: 0.3,
                TimingPhase.FAILURE: 0.2 + (i % 10) * 0.3,
            },
            messages=(
                ("setupComplete", -0.1),
                ("sessionResumptionUpdate", 0.05),
                ("close", 0.2 + (i % 10) * 0.3),
            ),
        )
    return ProbeResult(
        **common,  # type: ignore[arg-type]
        outcome=Outcome.OK,
        timings={TimingPhase.CONNECT: 0.08, TimingPhase.SETUP: 0.25, TimingPhase.TURN: 2.0},
        messages=(
            ("setupComplete", -0.1),
            ("sessionResumptionUpdate", 0.05),
            ("serverContent.modelTurn", 0.6),
            ("serverContent.modelTurn", 0.7),
            ("serverContent.turnComplete", 2.0),
        ),
    )


def write_jsonl(path: Path, records: list[ProbeResult]) -> Path:
    path.write_text("".join(json.dumps(r.to_record()) + "\n" for r in records), encoding="utf-8")
    return path


def sequence_records(
    model: str, outcomes: str, *, start: datetime = START, interval: timedelta = timedelta(minutes=1)
) -> list[ProbeResult]:
    """One record a turn from a string of outcomes: `.` ok, `x` a 1011 close (e.g. the issue's `...xx.xx`)."""
    return [
        replace(_record(model, i, failed=char == "x"), started_at=start + i * interval, run_id=f"{model}-{i}")
        for i, char in enumerate(outcomes)
    ]
