"""The registry step of training: every family's best becomes a version of the model with its
family alias; `champion` moves only if the best beats the current one on the same test split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ray_jobs.core.registry import Promotion, promote_if_better
from ray_jobs.core.settings import Settings
from ray_jobs.train import model_card
from ray_jobs.train.family_runs import TEST_METRICS, Logged
from ray_jobs.train.model_card import CardContext
from ray_jobs.train.tuning import FamilyResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """A family's best model as registered."""

    family: str
    version: str
    run_id: str
    result: FamilyResult


def register_all(
    settings: Settings, logged: list[Logged], test: Any, card: CardContext
) -> tuple[list[Registered], Promotion]:
    """Register every family's best (alias = family) with its model card, then move `champion`
    if the best beats it on the same test split; the decision is recorded on the active
    (parent) run."""
    import mlflow

    client = mlflow.MlflowClient()
    registered = [_register(settings, client, item, card) for item in logged]
    best = min(registered, key=lambda r: r.result.test_metrics["rmse"])
    gap = best.result.card_metrics.get("largest_gap")
    decision = promote_if_better(
        client,
        settings.model_name,
        settings.champion_alias,
        (best.version, best.result.test_metrics["rmse"], gap["rmse_gap"] if gap else None),
        test,
        settings.promotion_max_gap_increase,
    )
    _log_decision(decision, best)
    return registered, decision


def _register(settings: Settings, client: Any, logged: Logged, card: CardContext) -> Registered:
    import mlflow

    result = logged.result
    gap = result.card_metrics.get("largest_gap")
    tags = {
        "family": result.family,
        "dataset_version": card.dataset_version,
        "run_id": logged.run_id,
        **({"slice_gap_rmse": f"{gap['rmse_gap']:.6f}", "slice_gap": gap["slice"]} if gap else {}),
        **{
            f"test_{k}": f"{float(v):.6f}"
            for k, v in result.test_metrics.items()
            if k in TEST_METRICS
        },
    }
    model_version = mlflow.register_model(logged.model_uri, settings.model_name, tags=tags)
    text = model_card.render(
        card, str(model_version.version), logged.run_id, result, result.test_metrics
    )
    client.log_text(logged.run_id, text, model_card.CARD_ARTIFACT)
    client.update_model_version(
        settings.model_name, model_version.version, description=model_card.description(text)
    )
    client.set_registered_model_alias(settings.model_name, result.family, model_version.version)
    log.info("registered %s as %s v%s", result.family, settings.model_name, model_version.version)
    return Registered(result.family, str(model_version.version), logged.run_id, result)


def _log_decision(decision: Promotion, best: Registered) -> None:
    import mlflow

    mlflow.set_tags(
        {
            "champion_decision": "promoted" if decision.promoted else "kept",
            "champion_reason": decision.reason,
            "best_family": best.family,
            "candidate_version": decision.candidate_version,
            "previous_champion_version": decision.previous_version or "",
        }
    )
    figures = {
        "candidate_test_rmse": decision.candidate_rmse,
        "previous_champion_test_rmse": decision.previous_rmse,
        "candidate_slice_gap_rmse": decision.candidate_gap,
        "previous_champion_slice_gap_rmse": decision.previous_gap,
        "slice_gap_margin": decision.gap_margin,
    }
    mlflow.log_metrics({k: v for k, v in figures.items() if v is not None})
    mlflow.set_tag("fairness_gate", "on" if decision.gap_margin is not None else "off")


def summary(
    settings: Settings,
    parent: Any,
    registered: list[Registered],
    decision: Promotion,
    version: str,
    experiment: str,
) -> dict[str, Any]:
    """The job's JSON result: dataset, per-family versions and test metrics, the decision and
    the champion now in the registry."""
    import mlflow

    best = min(registered, key=lambda r: r.result.test_metrics["rmse"])
    result = {
        "dataset_version": version,
        "parent_run_id": parent.run_id,
        "experiment": experiment,
        "experiment_id": parent.experiment_id,
        "families": {
            r.family: {
                "version": r.version,
                "run_id": r.run_id,
                "best_params": r.result.best_params,
                "test": {
                    k: r.result.test_metrics[k] for k in TEST_METRICS if k in r.result.test_metrics
                },
                "seconds": round(r.result.seconds, 1),
                "trials": len(r.result.trials),
                "trials_restored": r.result.trials_restored,
            }
            for r in registered
        },
        "best_family": best.family,
        "promoted": decision.promoted,
        "promotion_reason": decision.reason,
    }
    champion = mlflow.MlflowClient().get_model_version_by_alias(
        settings.model_name, settings.champion_alias
    )
    result["champion"] = {
        "version": str(champion.version),
        "family": champion.tags.get("family"),
        "test_rmse": float(champion.tags.get("test_rmse", "nan")),
        "test_r2": float(champion.tags.get("test_r2", "nan")),
    }
    return result
