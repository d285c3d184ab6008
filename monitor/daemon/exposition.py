"""The `/metrics` body: text exposition rendered from cached per-job lines, built once, served as bytes.

Why not prometheus-client's `generate_latest` on every scrape: it formats every sample of every series each
time (about 11 us a sample here), so 1,000 jobs cost a second of CPU per scrape, and the encoding holds the
GIL, which stalls the event loop that takes the probes' timing marks. Here each job's lines are rendered once
when its turn is recorded (`JobLines`, on the loop, a fraction of a millisecond), a scrape only joins the
cached pieces (`Exposition.body`), and the join and the gzip run in a worker thread: both release the GIL
for large buffers (CPython's `bytes.join` above 1 MiB, zlib always). Concurrent scrapes share one build,
and a body is reused until a turn is recorded or it is `max_age` old (the few small metrics outside the
per-job families, such as in-flight sessions, change without a turn).

The format is Prometheus text 0.0.4, the one Prometheus, promtool and every scraper accept. OpenMetrics
carries nothing this exporter uses (no exemplars, no `_created`), so a scraper that accepts both is served
text; an OpenMetrics-only client gets prometheus-client's OpenMetrics encoder (not cached).
"""

from __future__ import annotations

import asyncio
import bisect
import gzip
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

__all__ = [
    "TEXT_CONTENT_TYPE",
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
class _Body:
    plain: bytes
    gzipped: bytes
    built_at: float


class Exposition:
    """The cached `/metrics` body over per-family pieces and a registry of small metrics rendered each build.

    `pieces()` returns, per family in exposition order, the family and its cached line blocks (one per job);
    it runs on the event loop and only collects references. `touch()` says a piece changed.
    """

    def __init__(
        self,
        pieces: Callable[[], Iterable[tuple[Family, Sequence[bytes]]]],
        rest: CollectorRegistry,
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pieces = pieces
        self._rest = rest
        self._max_age = max_age
        self._clock = clock
        self._generation = 0
        self._body: _Body | None = None
        self._body_generation = -1
        self._building: asyncio.Future[_Body] | None = None

    def touch(self) -> None:
        self._generation += 1

    async def body(self, *, gzipped: bool) -> bytes:
        """The current exposition (gzip-compressed if asked), built at most once per change or `max_age`."""
        body = self._body
        fresh = body is not None and self._body_generation == self._generation
        if body is None or not fresh or self._clock() - body.built_at > self._max_age:
            body = await self._build()
        return body.gzipped if gzipped else body.plain

    async def _build(self) -> _Body:
        if self._building is None:
            generation = self._generation
            parts: list[bytes] = []
            for family, blocks in self._pieces():
                parts.append(family.header())
                parts.extend(blocks)
            self._building = asyncio.ensure_future(asyncio.to_thread(self._join, parts))
            try:
                body = await asyncio.shield(self._building)
            finally:
                self._building = None
            self._body, self._body_generation = body, generation
            return body
        return await asyncio.shield(self._building)

    def _join(self, parts: list[bytes]) -> _Body:
        # The small registry is formatted here, off the loop: it is a few dozen lines.
        parts.append(generate_latest(self._rest))
        plain = b"".join(parts)
        return _Body(plain, gzip.compress(plain, compresslevel=_GZIP_LEVEL), self._clock())
