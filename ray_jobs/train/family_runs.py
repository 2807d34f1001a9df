"""A family's tuning and its MLflow child run (one thread of the training driver per family).

Logging right after a family's tuning lets its runs, plots and model upload overlap with the
other families' trials; only the registry writes wait for all of them (ray_jobs.train).
"""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pandas as pd

from features.schema import FEATURE_NAMES, TARGET
from ray_jobs.train import reports
from ray_jobs.train.progress import Cancelled, raise_if_aborted
from ray_jobs.train.tuning import FamilyResult, tune_family

MODEL_REQUIREMENTS = ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "cloudpickle")
TEST_METRICS = (
    "rmse", "mae", "r2", "rmse_complete", "mae_complete", "r2_complete", "risk_macro_f1",
    "risk_macro_precision", "risk_macro_recall", "risk_accuracy",
)  # fmt: skip


# Tags every run of a training job: an attempt resuming it finds the runs a killed one left open.
TUNE_RUN_TAG = "tune_run"


@dataclass(frozen=True)
class Tracking:
    """Where a family logs: under the training job's parent run (the driver has already pointed
    MLflow at the tracking server and the experiment, for every thread)."""

    parent_run_id: str
    dataset_version: str
    tune_run: str  # the Tune experiments' run name (TUNE_RUN_TAG on every run of the job)


@dataclass(frozen=True)
class Logged:
    """A family's best model as logged to its run, not yet in the registry."""

    family: str
    run_id: str
    model_uri: str
    result: FamilyResult


def tune_and_log(
    family: str,
    family_config: dict[str, Any],
    tune_settings: dict[str, Any],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    tracking: Tracking,
) -> Logged:
    """One family: its child run opens first, each trial is logged under it as it finishes,
    then the refitted best model with its test metrics, plots and importance."""
    import mlflow

    tags = {
        "family": family,
        "dataset_version": tracking.dataset_version,
        TUNE_RUN_TAG: tracking.tune_run,
    }
    with mlflow.start_run(
        run_name=family, parent_run_id=tracking.parent_run_id, tags=tags
    ) as child:
        try:
            result = tune_family(
                family, family_config, tune_settings, train, validation, test,
                on_trial=functools.partial(_log_trial, family, tags),
            )  # fmt: skip
            raise_if_aborted(tune_settings["run_name"], family)
        except Cancelled:
            mlflow.end_run(status="KILLED")
            raise
        model_uri = _log_best(result, validation, test)
    return Logged(family, child.info.run_id, model_uri, result)


def _log_trial(
    family: str, tags: dict[str, str], index: int, params: dict[str, Any], metrics: dict[str, float]
) -> None:
    """A trial's nested run (called from Tune's loop, in the thread where the family's run is
    active)."""
    import mlflow

    with mlflow.start_run(run_name=f"{family}-trial-{index:03d}", nested=True, tags=tags):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)


def _log_best(result: FamilyResult, validation: pd.DataFrame, test: pd.DataFrame) -> str:
    """The best params, validation and test metrics, plots and model, on the active run."""
    import mlflow

    mlflow.log_params(
        {**result.best_params, "family": result.family, "train_rows": result.train_rows}
    )
    metrics = {
        **result.best_validation,
        "seconds": result.seconds,
        "trials_restored": result.trials_restored,
    }
    metrics.update(
        {f"test_{k}": float(v) for k, v in result.test_metrics.items() if k in TEST_METRICS}
    )
    mlflow.log_metrics(metrics)
    _log_artifacts(result, test[TARGET].to_numpy())
    info = mlflow.sklearn.log_model(
        sk_model=result.model,
        name="model",
        signature=_signature(),
        input_example=_input_example(validation),
        pip_requirements=[f"{p}=={installed_version(p)}" for p in MODEL_REQUIREMENTS],
        serialization_format="cloudpickle",
    )
    return str(info.model_uri)


def _log_artifacts(result: FamilyResult, y_test: Any) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        title = f"{result.family} (test)"
        reports.confusion_matrix_png(
            result.test_metrics["confusion_matrix"], title, folder / "confusion_matrix.png"
        )
        reports.prediction_png(y_test, result.test_predictions, title, folder / "predictions.png")
        reports.importance_png(
            result.importance, f"{result.family}: permutation importance", folder / "importance.png"
        )
        if result.card_metrics:
            reports.calibration_png(
                result.card_metrics["calibration"], title, folder / "calibration.png"
            )
            (folder / "card_metrics.json").write_text(json.dumps(result.card_metrics, indent=2))
        (folder / "importance.json").write_text(
            json.dumps(
                {"permutation": result.importance, "native_gain": result.native_importance},
                indent=2,
            )
        )
        (folder / "trials.json").write_text(json.dumps(result.trials, indent=2))
        (folder / "test_metrics.json").write_text(json.dumps(result.test_metrics, indent=2))
        mlflow.log_artifacts(str(folder))


def _signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from features.schema import FEATURE_COLUMNS

    # The id is carried through, not a feature: a caller of the stock pyfunc may leave it out.
    inputs = Schema(
        [
            ColSpec(
                "double" if c.kind == "number" else "string",
                c.name,
                required=c.required and c.name != "employee_id",
            )
            for c in FEATURE_COLUMNS
        ]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double")]))


def _input_example(frame: Any) -> Any:
    example = frame[list(FEATURE_NAMES)].head(3).copy()
    return example.astype(object).where(example.notna(), None)
