"""MLflow Model Registry: registering family models, reading aliases, the promotion gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from features.evaluation import largest_gap, regression_metrics, slice_metrics
from features.schema import FEATURE_NAMES, TARGET

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """The champion decision and the scores behind it (test RMSE on the same test split; with
    the fairness gate on, the largest RMSE gap between slices of employees too)."""

    promoted: bool
    candidate_version: str
    candidate_rmse: float
    previous_version: str | None
    previous_rmse: float | None
    candidate_gap: float | None = None
    previous_gap: float | None = None
    gap_margin: float | None = None  # None: the fairness gate is off

    @property
    def blocked_by_gap(self) -> bool:
        return (
            self.gap_margin is not None
            and self.candidate_gap is not None
            and self.previous_gap is not None
            and self.candidate_gap > self.previous_gap + self.gap_margin
        )

    @property
    def reason(self) -> str:
        if self.previous_version is None:
            return "no champion yet"
        beats = self.previous_rmse is not None and self.candidate_rmse < self.previous_rmse
        verb = "beats" if beats else "does not beat"
        text = (
            f"v{self.candidate_version} (test RMSE {self.candidate_rmse:.5f}) {verb} champion "
            f"v{self.previous_version} ({self.previous_rmse:.5f}) on the same test split"
        )
        if self.gap_margin is not None and self.candidate_gap is not None:
            text += (
                f"; largest slice gap {self.candidate_gap:.5f} vs {self.previous_gap:.5f}"
                f" (margin {self.gap_margin:.5f})"
            )
            if beats and self.blocked_by_gap:
                text += ": kept, the gap between slices would grow past the margin"
        return text


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The model version behind an alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_version(name: str, version: str, tracking_uri: str | None = None) -> Any:
    """The sklearn Pipeline of one registered version (serving, batch scoring, promotion)."""
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def score_version(name: str, version: str, test: pd.DataFrame) -> tuple[float, float | None]:
    """Test RMSE of a registered version and its largest slice gap, computed now on this test
    split."""
    model = load_version(name, version)
    predicted = np.asarray(model.predict(test[list(FEATURE_NAMES)]), dtype="float64")
    truth = test[TARGET].to_numpy()
    gap = largest_gap(slice_metrics(test, truth, predicted))
    return regression_metrics(truth, predicted)["rmse"], gap["rmse_gap"] if gap else None


def promote_if_better(
    client: Any,
    name: str,
    alias: str,
    candidate: tuple[str, float, float | None],
    test: pd.DataFrame,
    gap_margin: float | None = None,
) -> Promotion:
    """Move `alias` to the candidate (version, test RMSE, largest slice gap) only if it beats
    the current holder on this test split and, with `gap_margin` set, its largest RMSE gap
    between slices is not worse than the holder's by more than the margin."""
    version, rmse, gap = candidate
    current = alias_version(client, name, alias)
    if current is None:
        client.set_registered_model_alias(name, alias, version)
        return Promotion(True, version, rmse, None, None, gap, None, gap_margin)
    if str(current.version) == str(version):
        return Promotion(False, version, rmse, current.version, rmse, gap, gap, gap_margin)
    previous_rmse, previous_gap = score_version(name, str(current.version), test)
    decision = Promotion(
        False, version, rmse, str(current.version), previous_rmse, gap, previous_gap, gap_margin
    )
    if rmse < previous_rmse and not decision.blocked_by_gap:
        client.set_registered_model_alias(name, alias, version)
        decision = replace(decision, promoted=True)
    log.info("promotion: %s", decision.reason)
    return decision


def describe_versions(client: Any, name: str) -> list[dict[str, Any]]:
    """Every registered version with its aliases and the test metrics recorded at training."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    versions = client.search_model_versions(f"name='{name}'")
    described = [_describe(v, sorted(aliases.get(str(v.version), []))) for v in versions]
    return sorted(described, key=lambda d: int(d["version"]), reverse=True)


def _describe(version: Any, aliases: list[str]) -> dict[str, Any]:
    tags = dict(version.tags or {})
    metrics = {}
    for key, value in tags.items():
        if key.startswith("test_"):
            try:
                metrics[key] = float(value)
            except ValueError:
                continue
    return {
        "name": version.name,
        "version": str(version.version),
        "aliases": aliases,
        "family": tags.get("family", ""),
        "dataset_version": tags.get("dataset_version", ""),
        "run_id": version.run_id or tags.get("run_id", ""),
        "metrics": metrics,
    }


def describe_alias(client: Any, name: str, alias: str) -> dict[str, Any] | None:
    """One alias: its version, run, params and metrics (None if the alias does not exist)."""
    version = alias_version(client, name, alias)
    if version is None:
        return None
    model = client.get_registered_model(name)
    aliases = sorted(a for a, v in (model.aliases or {}).items() if str(v) == str(version.version))
    described = _describe(version, aliases)
    params: dict[str, str] = {}
    if described["run_id"]:
        from mlflow.exceptions import MlflowException

        try:
            params = dict(client.get_run(described["run_id"]).data.params)
        except MlflowException:
            params = {}
    described["params"] = params
    described["alias"] = alias
    return described


CARD_ARTIFACT = "model_card.md"  # written by ray_jobs.train.model_card next to the run's plots


def model_card(client: Any, name: str, version: str) -> str:
    """The Markdown card of a version; NotFound names a version registered before cards."""
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    from ray_jobs.core.errors import NotFound

    try:
        run_id = client.get_model_version(name, version).run_id
        with tempfile.TemporaryDirectory() as folder:
            return Path(client.download_artifacts(run_id, CARD_ARTIFACT, folder)).read_text()
    except (MlflowException, OSError):
        raise NotFound(
            f"{name} v{version} has no model card (registered before training wrote them, "
            "or not registered); train again to get one"
        ) from None
