"""What `/healthz` reports: the scheduler says whether it is alive and its probes complete on schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["HealthCheck", "HealthStatus"]


@dataclass(frozen=True, slots=True)
class HealthStatus:
    healthy: bool
    detail: Mapping[str, object]


class HealthCheck(Protocol):
    """Implemented by the scheduler: alive, and probes completing on schedule."""

    def check(self) -> HealthStatus: ...
