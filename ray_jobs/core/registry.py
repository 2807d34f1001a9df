"""MLflow Model Registry: registering family models, reading aliases, the promotion gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.evaluation import regression_metrics
from features.schema import FEATURE_NAMES, TARGET

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """The champion decision and the scores behind it (test RMSE on the same test split)."""

    promoted: bool
    candidate_version: str
    candidate_rmse: float
    previous_version: str | None
    previous_rmse: float | None

    @property
    def reason(self) -> str:
        if self.previous_version is None:
            return "no champion yet"
        verb = "beats" if self.promoted else "does not beat"
        return (
            f"v{self.candidate_version} (test RMSE {self.candidate_rmse:.5f}) {verb} champion "
            f"v{self.previous_version} ({self.previous_rmse:.5f}) on the same test split"
        )


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


def score_version(name: str, version: str, test: pd.DataFrame) -> float:
    """Test RMSE of a registered version, computed now on this test split."""
    model = load_version(name, version)
    predicted = np.asarray(model.predict(test[list(FEATURE_NAMES)]), dtype="float64")
    return regression_metrics(test[TARGET].to_numpy(), predicted)["rmse"]


def promote_if_better(
    client: Any,
    name: str,
    alias: str,
    candidate_version: str,
    candidate_rmse: float,
    test: pd.DataFrame,
) -> Promotion:
    """Move `alias` to the candidate only if it beats the current holder on this test split."""
    current = alias_version(client, name, alias)
    if current is None:
        client.set_registered_model_alias(name, alias, candidate_version)
        return Promotion(True, candidate_version, candidate_rmse, None, None)
    if str(current.version) == str(candidate_version):
        return Promotion(False, candidate_version, candidate_rmse, current.version, candidate_rmse)
    previous_rmse = score_version(name, str(current.version), test)
    promoted = candidate_rmse < previous_rmse
    if promoted:
        client.set_registered_model_alias(name, alias, candidate_version)
    decision = Promotion(
        promoted, candidate_version, candidate_rmse, str(current.version), previous_rmse
    )
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
