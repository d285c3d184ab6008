"""The Model comparison dashboard: incident 000's results table, live, aliases beside pinned versions."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.models.dashboard import Dashboard, DataTransformerConfig, DynamicConfigValue

from dashboards.panels import (
    PROVIDER_FAILURES,
    PROVIDER_TURNS,
    TURNS,
    PanelBuilder,
    Query,
    build_dashboard,
    select,
    table_panel,
    timeseries_panel,
)
from monitor.probe.outcome import Outcome

__all__ = ["UID", "build"]

UID: Final = "gemini-live-model-comparison"

INFO: Final = "gemini_live_model_info"
FAILURE_RATIO: Final = "failure ratio"
# The incident report's own column, between `ok` and the outcome classes.
CLOSE_1011: Final = ("close_1011", ('outcome="server_close"', 'code="1011"'))


def _count(*matchers: str) -> str:
    """Turns per model over the selected range, 0 (not absent) for a model that had none of them."""
    turns = select(TURNS, *matchers)
    every_turn = select(TURNS)
    return (
        f"sum by (model) (increase({turns}[$__range]))"
        f" or 0 * sum by (model) (increase({every_turn}[$__range]))"
    )


def _results_table() -> PanelBuilder:
    ok_turns = select(TURNS, 'outcome="ok"')
    provider_turns = select(TURNS, *PROVIDER_TURNS)
    columns: list[tuple[str, str]] = [
        ("turns", _count()),
        (
            "failure_ratio",
            f"1 - sum by (model) (increase({ok_turns}[$__range]))"
            f" / sum by (model) (increase({provider_turns}[$__range]))",
        ),
        ("ok", _count('outcome="ok"')),
        (CLOSE_1011[0], _count(*CLOSE_1011[1])),
        *((o.value, _count(f'outcome="{o.value}"')) for o in Outcome if o is not Outcome.OK),
    ]
    info = Query(f"max by (model, family, alias) ({select(INFO)})", ref_id="info", instant=True, table=True)
    queries = [info, *(Query(expr, ref_id=ref, instant=True, table=True) for ref, expr in columns)]
    rename = {f"Value #{ref}": ref for ref, _ in columns}
    rename["Value #failure_ratio"] = FAILURE_RATIO
    rename["Value #close_1011"] = "1011"
    order = ["family", "model", "alias", *rename.values()]
    transformations = [
        # Keep only the label columns and each query's value, so the join has one `model` column to match.
        DataTransformerConfig(
            id_val="filterFieldsByName",
            options={"include": {"names": ["family", "model", "alias", *rename]}},
        ),
        DataTransformerConfig(id_val="joinByField", options={"byField": "model", "mode": "outer"}),
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {},
                "indexByName": {name: i for i, name in enumerate(order)},
                "renameByName": rename,
            },
        ),
        # Sorting by family puts a moving alias (`...-latest`) next to the pinned versions it may point at.
        DataTransformerConfig(id_val="sortBy", options={"fields": {}, "sort": [{"field": "family"}]}),
    ]
    return table_panel(
        "Results by model",
        "Incident 000's results table, live: for each model over the selected range, how many turns ended in "
        "each outcome class, how many were 1011 closes, and what share failed (our own prober errors and "
        "quota/auth failures excluded)? Rows are sorted by family, so an alias sits next to its pinned "
        "versions; `alias` is true for a moving alias.",
        "short",
        queries,
        transformations=transformations,
        size=(24, 9),
    ).override_by_name(FAILURE_RATIO, [DynamicConfigValue(id_val="unit", value="percentunit")])


def _over_time() -> list[PanelBuilder]:
    failures = select(TURNS, *PROVIDER_FAILURES)
    provider_turns = select(TURNS, *PROVIDER_TURNS)
    info = f"max by (model, family, alias) ({select(INFO)})"

    def by_family(turns: str) -> str:
        return (
            f"sum by (family, alias) (rate({turns}[$__rate_interval])"
            f" * on (model) group_left (family, alias) {info})"
        )

    return [
        timeseries_panel(
            "Failure ratio by model",
            "Which models fail, and since when? Failed share of the turns that judge the provider, per "
            "model; points are at least 5 minutes wide so each holds enough turns to be a ratio.",
            "percentunit",
            [
                Query(
                    f"sum by (model) (rate({failures}[$__rate_interval]))"
                    f" / sum by (model) (rate({provider_turns}[$__rate_interval]))",
                    "{{model}}",
                )
            ],
            min_interval="5m",
        ),
        timeseries_panel(
            "Failure ratio: aliases vs pinned versions",
            "Is a moving alias failing while the pinned versions of its family are clean (incident 000: "
            "`-latest` at 80-90 % while preview-09-2025 was at 0 %)? One line per family for aliases "
            "(alias=true) and one for its pinned versions (alias=false).",
            "percentunit",
            [Query(f"{by_family(failures)} / {by_family(provider_turns)}", "{{family}} alias={{alias}}")],
            min_interval="5m",
        ),
    ]


def build() -> Dashboard:
    return build_dashboard(
        UID,
        "Gemini Live — Model comparison",
        "Models side by side over the selected range, in the shape of incident 000's results table, with "
        "moving aliases next to the pinned versions they resolve to.",
        [("Results over the selected range", [_results_table()]), ("Over time", _over_time())],
    )
