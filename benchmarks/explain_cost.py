"""What an explanation costs: explained vs plain predictions, 1 and 1,000 records, per family.

    .venv/bin/python -m benchmarks.explain_cost

In-process (no services): each family is fitted on synthetic rows at the training config's row
caps (LightGBM on 20,000, KNN on 20,000, SVR on 6,000) with mid-range hyperparameters, the
explanation background attached as training does; then `model.predict` and
`features.explain.explain` are timed side by side on the same records (median of repeats).
Results go to the "Explanations" section of docs/benchmarks.md.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import typer

from benchmarks.common import machine, write_section
from features.explain import BACKGROUND_ROWS, attach_background, explain
from features.models import FAMILIES, build_model
from features.schema import FEATURE_NAMES, RAW_TO_NAME
from features.synthetic import generate
from features.validation import validate
from ray_jobs.core import cli

log = logging.getLogger(__name__)

SETUPS: dict[str, tuple[int, dict[str, Any]]] = {
    "lightgbm": (20_000, {"n_estimators": 400, "num_leaves": 31, "learning_rate": 0.05}),
    "knn": (20_000, {"n_neighbors": 20, "weights": "distance"}),
    "svm": (6_000, {"C": 3.0, "epsilon": 0.02, "gamma": 0.1}),
}


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


app = typer.Typer(add_completion=False)


@app.command()
def main(repeats: int = typer.Option(5, min=1, max=50, help="timings per cell (median)")) -> None:
    """Measure and write the section of docs/benchmarks.md."""
    raw = generate(40_000, 17).rename(columns=RAW_TO_NAME)
    data = validate(raw.astype(object), require_target=False).clean.dropna(subset=["burn_rate"])
    queries = data[list(FEATURE_NAMES)].tail(1_000)
    rows = []
    started = time.perf_counter()
    import shap  # noqa: F401  (once per process: the first KNN/SVR explanation pays it)

    import_s = time.perf_counter() - started
    for family in FAMILIES:
        size, params = SETUPS[family]
        train = data.head(size)
        model = build_model(family, params, seed=0)
        model.fit(train[list(FEATURE_NAMES)], train["burn_rate"])
        attach_background(model, train[list(FEATURE_NAMES)], seed=0)
        for count in (1, 1_000):
            batch = queries.head(count)
            # The big cells once: explaining 1,000 records with SVR takes minutes.
            times = repeats if count == 1 else 1
            plain = median_seconds(lambda b=batch, m=model: m.predict(b), times)
            explained = median_seconds(lambda b=batch, m=model: explain(m, b), times)
            log.info("%s x%d: plain %.4f s, explained %.4f s", family, count, plain, explained)
            rows.append((family, count, plain, explained))
    lines = [
        f"Machine: {machine()}. In-process, one thread; models fitted on synthetic rows at the "
        "training config's caps (LightGBM 20,000, KNN 20,000, SVR 6,000); KNN and SVR explained "
        f"over a background of {BACKGROUND_ROWS} training rows (exact Shapley, 2^7 coalitions "
        "each); LightGBM by its own TreeSHAP. Median of repeated timings (1,000-record cells "
        f"once). Importing SHAP, paid by a process's first KNN/SVR explanation: {import_s:.1f} s.",
        "",
        "| family | records | plain (ms) | explained (ms) | explained / plain | "
        "explained per record (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for family, count, plain, explained in rows:
        lines.append(
            f"| {family} | {count:,} | {plain * 1000:.1f} | {explained * 1000:.1f} | "
            f"{explained / plain:.1f}x | {explained * 1000 / count:.2f} |"
        )
    write_section("Explanations", "\n".join(lines))
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    cli.run(app)
