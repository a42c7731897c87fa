"""Problems per unit, tier, status and quick-fix flag (`problem_counts`), for the counts bar that every
ledger page loads: a few hundred rows summed instead of a million problems counted per request.

Database triggers on `problems` keep it current whatever writes (tracker.core.summary). The bar
reads it when the filter is one the summary can answer (scope, unit, open, quick fix); any other
filter is counted live from the problems. `flask ledger rebuild-counts` recounts it and remakes the
triggers should it ever disagree with a recount."""

from tracker.core.summary import Summary

SUMMARY = Summary(
    table="problem_counts",
    source="problems",
    keys={
        "unit_id": lambda _dialect, prefix: f"COALESCE({prefix}unit_id, 0)",
        "tier": lambda _dialect, prefix: f"COALESCE({prefix}tier, '')",
        "status": lambda _dialect, prefix: f"{prefix}status",
        "quick_fix": lambda _dialect, prefix: f"CASE WHEN {prefix}is_quick_fix THEN 1 ELSE 0 END",
    },
    sums={"problems": lambda _dialect, _prefix: "1"},
    watched=("unit_id", "tier", "status", "is_quick_fix"),
)
