"""The `/metrics` body: text exposition rendered from cached per-job lines, built once, served as bytes.

Why not prometheus-client's `generate_latest` on every scrape: it formats every sample of every series each
time (about 11 us a sample here), so 1,000 jobs cost a second of CPU per scrape, and the encoding holds the
GIL, which stalls the event loop that takes the probes' timing marks. Here each job's lines are rendered once
when its turn is recorded (on the loop, about 0.1 ms), a scrape only collects references to the cached
pieces on the loop (`Exposition.body`), and a worker thread compresses them piece by piece (zlib releases
the GIL while it works) and groups the text into chunks small enough that no copy holds the GIL for long.
Concurrent scrapes share one build,
and a body is reused until a turn is recorded or it is `max_age` old (the few small metrics outside the
per-job families, such as in-flight sessions, change without a turn).

The format is Prometheus text 0.0.4, the one Prometheus, promtool and every scraper accept. OpenMetrics
carries nothing this exporter uses (no exemplars, no `_created`), so a scraper that accepts both is served
text; an OpenMetrics-only client gets prometheus-client's OpenMetrics encoder (not cached).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

__all__ = [
    "TEXT_CONTENT_TYPE",
    "Body",
    "Exposition",
    "Family",
    "FamilyKind",
    "HistogramState",
    "label_text",
    "number",
]

TEXT_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# Level 1: a /metrics body is long runs of the same label text, which even the fastest level shrinks about
# 20 times; level 6 costs three times the CPU for a few percent more.
_GZIP_LEVEL: Final = 1
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # a gzip container, as Content-Encoding: gzip requires
_CHUNK_BYTES: Final = 256 * 1024
_INF: Final = float("inf")


def label_text(labels: Mapping[str, str]) -> str:
    """`a="x",b="y"`, values escaped as the text format requires (backslash, double quote, newline)."""
    return ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def number(value: float) -> str:
    """A sample value or bound as prometheus-client's floatToGoString writes it (`1.0`, `0.25`, `+Inf`)."""
    if value == _INF:
        return "+Inf"
    if value == -_INF:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    # Go switches to exponents sooner than Python (prometheus-client does the same).
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


class FamilyKind(StrEnum):
    """The `# TYPE` of a family, as prometheus-client's `Metric.type` spells it."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: its name (a counter's without `_total`), type and help text."""

    name: str
    kind: FamilyKind
    doc: str

    @property
    def sample_name(self) -> str:
        """The name a counter's or gauge's samples carry (a histogram's carry `_bucket`, `_count`, `_sum`)."""
        return f"{self.name}_total" if self.kind is FamilyKind.COUNTER else self.name

    def header(self) -> bytes:
        doc = self.doc.replace("\\", r"\\").replace("\n", r"\n")
        name = self.sample_name
        return f"# HELP {name} {doc}\n# TYPE {name} {self.kind.value}\n".encode()

    def metric(self) -> Metric:
        """An empty prometheus-client family, for the registry's collect() and describe()."""
        return Metric(self.name, self.doc, self.kind.value)


@dataclass(slots=True)
class HistogramState:
    """One histogram series: per-bucket counts (not cumulative; the last is +Inf) and the sum."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (`le` is "less than or equal").
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list[str]:
        """The `_bucket` (cumulative, ending at +Inf), `_count` and `_sum` lines of this series."""
        out = []
        running = 0
        for bound, count in zip((*self.bounds, _INF), self.counts, strict=True):
            running += count
            out.append(f'{name}_bucket{{{labels},le="{number(bound)}"}} {number(running)}\n')
        out.append(f"{name}_count{{{labels}}} {number(running)}\n")
        out.append(f"{name}_sum{{{labels}}} {number(self.total)}\n")
        return out

    def add_samples(self, metric: Metric, labels: Mapping[str, str]) -> None:
        running = 0
        for bound, count in zip((*self.bounds, _INF), self.counts, strict=True):
            running += count
            metric.add_sample(f"{metric.name}_bucket", {**labels, "le": number(bound)}, running)
        metric.add_sample(f"{metric.name}_count", dict(labels), running)
        metric.add_sample(f"{metric.name}_sum", dict(labels), self.total)


@dataclass(frozen=True, slots=True)
class Body:
    """One built exposition: the text as chunks of at most ~256 KB (served in order) and its gzip form."""

    chunks: tuple[bytes, ...]
    gzipped: bytes
    built_at: float

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


class Exposition:
    """The cached `/metrics` body over the per-job pieces and a registry of small metrics.

    `snapshot()` runs on the event loop and returns the cached line blocks in exposition order (it only
    collects references); the worker thread compresses them piece by piece and groups the text into chunks.
    `touch()` says a piece changed.
    """

    def __init__(
        self,
        snapshot: Callable[[], list[bytes]],
        rest: CollectorRegistry,
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._rest = rest
        self._max_age = max_age
        self._clock = clock
        self._generation = 0
        self._body: Body | None = None
        self._body_generation = -1
        self._building: asyncio.Future[Body] | None = None

    def touch(self) -> None:
        self._generation += 1

    async def body(self) -> Body:
        """The current exposition, built at most once per change (or per `max_age`), shared by all scrapes."""
        body = self._body
        current = body is not None and self._body_generation == self._generation
        if body is not None and current and self._clock() - body.built_at <= self._max_age:
            return body
        if self._building is None:
            generation = self._generation
            self._building = asyncio.ensure_future(asyncio.to_thread(self._build, self._snapshot()))
            try:
                body = await asyncio.shield(self._building)
            finally:
                self._building = None
            self._body, self._body_generation = body, generation
            return body
        return await asyncio.shield(self._building)

    def _build(self, parts: list[bytes]) -> Body:
        """Worker thread. Every step is a short call into C: zlib releases the GIL while it compresses, and no
        single join copies more than a chunk, so the loop thread gets the GIL back within microseconds
        (one join of a 10 MB body holds it for about 3 ms here)."""
        parts.append(generate_latest(self._rest))  # a few dozen lines
        compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        compressed: list[bytes] = []
        chunks: list[bytes] = []
        pending: list[bytes] = []
        pending_size = 0
        for part in parts:
            if not part:
                continue
            compressed.append(compressor.compress(part))
            pending.append(part)
            pending_size += len(part)
            if pending_size >= _CHUNK_BYTES:
                chunks.append(b"".join(pending))
                pending, pending_size = [], 0
        if pending:
            chunks.append(b"".join(pending))
        compressed.append(compressor.flush())
        return Body(tuple(chunks), b"".join(compressed), self._clock())
