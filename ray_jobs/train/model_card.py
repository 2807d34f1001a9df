"""A model card per registered version: what it was trained on, how well it does (overall, per
risk level, per slice of employees), how calibrated it is, and where it should not be used.

Written by training right after a version is registered: the full card is an artifact of the
version's run (`model_card.md`, next to the plots it names) and its head is the version's
description in the registry (MLflow caps descriptions; the artifact has everything).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from features.explain import METHODS, MODEL_AGNOSTIC
from features.schema import FEATURE_COLUMNS
from ray_jobs.core import s3
from ray_jobs.core.registry import CARD_ARTIFACT
from ray_jobs.core.settings import Settings

DESCRIPTION_LIMIT = 4_000  # MLflow's model version description column holds 5,000
# The raw CSV headers -> the names the model's signature uses.
RENAMING = {c.raw: c.name for c in FEATURE_COLUMNS}
PLOTS = ("predictions.png", "confusion_matrix.png", "calibration.png", "importance.png")
INTENDED_USE = """\
## Intended use and limits

- **For:** spotting groups and trends of burnout risk (Burn Rate in 0..1, risk levels Low <
  0.33 <= Medium < 0.66 <= High) to plan workload, staffing and support.
- **Not for:** decisions about one person (pay, promotion, dismissal, health) without a human
  who knows that person: the model sees nine columns, not the person.
- **Data:** {data_note}
- Missing Resource Allocation, Mental Fatigue Score or Date of Joining are imputed (MICE); the
  "complete rows" metrics show how much better the model does when they are given.
- Slices are compared on RMSE; groups under {min_rows} test rows are listed but not compared.
"""


@dataclass(frozen=True)
class CardContext:
    """What the training job knows beyond one family's result: data and search budget."""

    model_name: str
    dataset_version: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    data_note: str


def render(
    context: CardContext, version: str, run_id: str, result: Any, test_metrics: dict[str, Any]
) -> str:
    """The card in Markdown."""
    from features.evaluation import MIN_SLICE_ROWS

    family_config = context.config["families"][result.family]
    card = result.card_metrics
    rows = context.manifest.get("rows", {})
    splits = context.manifest.get("splits", {})
    lines = [
        f"# Model card: {context.model_name} v{version} ({result.family})",
        "",
        f"Registered {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from run `{run_id}`.",
        "",
        "## Data",
        "",
        f"- Dataset version `{context.dataset_version}` from "
        f"`{context.manifest.get('input', {}).get('uri', '?')}`",
        f"- Raw rows {rows.get('in', '?')}: {rows.get('out', '?')} kept, "
        f"{rows.get('rejected', '?')} rejected with reasons",
        "- Splits: "
        + ", ".join(f"{name} {info.get('rows', '?')}" for name, info in splits.items())
        + f"; trained on {result.train_rows} rows of train + validation"
        + (
            f" (a seeded sample of at most {family_config['max_train_rows']})"
            if family_config.get("max_train_rows")
            else ""
        ),
        f"- {context.data_note}",
        "",
        "## Features",
        "",
        "| feature | kind | required |",
        "|---|---|---|",
        *[
            f"| {c.name} | {c.kind} | {'yes' if c.required else 'no (imputed)'} |"
            for c in FEATURE_COLUMNS
            if c.name != "employee_id"
        ],
        "",
        "Preprocessing inside the model: tenure from Date of Joining, one-hot encoding, MICE "
        "imputation, scaling. Explanations: "
        f"`{METHODS.get(result.family, MODEL_AGNOSTIC)}` (`?explain=true`).",
        "",
        "## Training",
        "",
        f"- Search: Ray Tune + Optuna, {family_config['num_samples']} trials, seed "
        f"{context.config['seed']}, metric {context.config['metric']}",
        f"- Search space: `{json.dumps(family_config['space'])}`",
        f"- Chosen: `{json.dumps(result.best_params)}`",
        "",
        "## Test metrics",
        "",
        "| test rows | RMSE | MAE | R² |",
        "|---|---|---|---|",
        _metric_row("all", test_metrics.get("rows"), test_metrics, ""),
        _metric_row("complete rows", test_metrics.get("rows_complete"), test_metrics, "_complete"),
        *[
            _metric_row(f"actual {level}", m["rows"], m, "")
            for level, m in card.get("per_risk_level", {}).items()
        ],
        "",
        f"Risk levels: macro F1 {test_metrics['risk_macro_f1']:.3f}, accuracy "
        f"{test_metrics['risk_accuracy']:.3f}.",
        "",
        "## By slice",
        "",
        "| slice | group | rows | RMSE | MAE | R² |",
        "|---|---|---|---|---|---|",
        *[
            f"| {column} | {group} | {m['rows']} | {m['rmse']:.4f} | {m['mae']:.4f} | "
            f"{m['r2']:.3f} |"
            for column, groups in card.get("slices", {}).items()
            for group, m in groups.items()
        ],
        "",
        _gap_line(card.get("largest_gap")),
        "",
        "## Calibration",
        "",
        "| predicted bin | rows | mean predicted | mean actual |",
        "|---|---|---|---|",
        *[
            f"| {b['from']:.1f}-{b['to']:.1f} | {b['rows']} | {b['mean_predicted']:.3f} | "
            f"{b['mean_actual']:.3f} |"
            for b in card.get("calibration", [])
        ],
        "",
        "## Use it outside this service",
        "",
        "The registered model is a scikit-learn pipeline; stock MLflow loads it. Columns go by",
        "their snake_case names (the raw CSV headers renamed as below); `employee_id` is",
        "optional and not used; other columns are ignored. The output is the unclipped Burn Rate.",
        "",
        "```python",
        "import mlflow, pandas as pd",
        f'model = mlflow.pyfunc.load_model("models:/{context.model_name}/{version}")',
        f"frame = pd.read_csv(path).rename(columns={RENAMING!r})",
        "burn_rate = model.predict(frame).clip(0, 1)",
        "```",
        "",
        "## Plots (artifacts of the run)",
        "",
        *[f"- `{name}`" for name in PLOTS],
        "",
        INTENDED_USE.format(data_note=context.data_note, min_rows=MIN_SLICE_ROWS),
    ]
    return "\n".join(lines)


def description(card: str) -> str:
    """The head of the card for the registry's description field."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    cut = card.rfind("\n## ", 0, DESCRIPTION_LIMIT)
    return card[:cut] + f"\n\n(full card: the run's `{CARD_ARTIFACT}`)"


def _metric_row(label: str, rows: Any, metrics: dict[str, Any], suffix: str) -> str:
    if f"rmse{suffix}" not in metrics:
        return f"| {label}: {rows} | - | - | - |"
    return (
        f"| {label}: {rows} | {metrics[f'rmse{suffix}']:.4f} | {metrics[f'mae{suffix}']:.4f} | "
        f"{metrics[f'r2{suffix}']:.3f} |"
    )


def _gap_line(gap: dict[str, Any] | None) -> str:
    if gap is None:
        return "No slice has two groups large enough to compare."
    return (
        f"**Largest gap between slices: {gap['slice']}** - RMSE {gap['worst_rmse']:.4f} for "
        f"{gap['worst_group']} vs {gap['best_rmse']:.4f} for {gap['best_group']} "
        f"(gap {gap['rmse_gap']:.4f})."
    )


def data_note(settings: Settings, manifest: dict[str, Any]) -> str:
    """Synthetic or uploaded data, from the first input object's metadata (ray_jobs.ingest)."""
    objects = manifest.get("input", {}).get("objects", [])
    source = s3.S3Uri.parse(manifest.get("input", {}).get("uri", "s3://unknown/"))
    if not objects:
        return "Source objects unknown."
    try:
        head = s3.client(settings).head_object(Bucket=source.bucket, Key=objects[0]["key"])
    except ClientError:  # the raw file was removed since the ETL: the card still gets written
        return f"Source {source} (its objects are no longer on S3)."
    generator = head.get("Metadata", {}).get(s3.GENERATOR_METADATA)
    if generator:
        return (
            f"Synthetic data ({generator}): the figures describe the generator, not real "
            "employees; retrain on real data before any use."
        )
    names = ", ".join(sorted({o["key"].rsplit("/", 1)[-1] for o in objects})[:5])
    return f"Uploaded data ({names}) in the HackerEarth 'Are Your Employees Burning Out?' schema."
