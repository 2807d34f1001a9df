"""Training job: Ray Tune + Optuna over LightGBM, KNN and SVM in parallel, tracked in MLflow.

    python -m ray_jobs.train [--dataset-version ds-...] [--trials N] [--sequential]
                             [--resume-key KEY]

Each family's best is registered as a version of the model (alias = family name); `champion`
moves only when the overall best beats the current champion on the same test split.

Tune's experiment state lives on S3 (`tune_storage`). A job given a resume key (Airflow passes
its task's submission key, the same for every retry) names its experiments after the key, the
dataset version and the config: submitted again after its driver died, it reads the trials the
earlier attempts finished and runs only the rest (`ray_jobs.train.experiment`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import typer

from ray_jobs.core import cli, datasets, s3, tracking
from ray_jobs.core.cluster import connect
from ray_jobs.core.errors import BurnoutError, ServiceUnavailable
from ray_jobs.core.placement import job_placement, work_done
from ray_jobs.core.settings import Settings, get_settings
from ray_jobs.train import tune_log_filter
from ray_jobs.train.config import DEFAULT_CONFIG, load_config
from ray_jobs.train.family_runs import TUNE_RUN_TAG, Logged, Tracking, tune_and_log
from ray_jobs.train.model_card import CardContext, data_note
from ray_jobs.train.progress import abort_switch
from ray_jobs.train.registration import register_all, summary
from ray_jobs.train.run_identity import close_abandoned_runs, config_sha, tune_run_name

log = logging.getLogger(__name__)

EXPERIMENT = "training"


def run_training(
    settings: Settings,
    config: dict[str, Any],
    dataset_version: str | None = None,
    sequential: bool = False,
    resume_key: str | None = None,
) -> dict[str, Any]:
    """Tune and log every family, then register and maybe promote; return a summary."""
    import mlflow

    started = time.monotonic()
    client = _check_services(settings)
    manifest = datasets.resolve(settings, client, dataset_version)
    version = manifest["dataset_version"]
    log.info("training on dataset version %s (%s)", version, manifest["rows"])
    frames = _read_splits(settings, manifest)
    run_name = tune_run_name(version, config, resume_key)
    registering = False
    try:
        tracking.use_experiment(EXPERIMENT)
        if resume_key:
            close_abandoned_runs(run_name, EXPERIMENT)
        with mlflow.start_run(run_name=f"train-{version}") as parent:
            mlflow.set_tags(
                {
                    "dataset_version": version,
                    "mode": "sequential" if sequential else "parallel",
                    "config_sha": config_sha(config),
                    TUNE_RUN_TAG: run_name,
                }
            )
            mlflow.log_params({"seed": config["seed"], "metric": config["metric"]})
            mlflow.log_dict(config, "train_config.yaml")
            where = Tracking(parent.info.run_id, version, run_name)
            phases = {"prepare": time.monotonic() - started}
            logged = _tune_and_log(settings, config, frames, where, sequential, bool(resume_key))
            work_done()  # the trials were the job's Ray work
            phases["families"] = time.monotonic() - started - sum(phases.values())
            # Registry writes come last, in one short burst: an outage during the minutes of
            # tuning and logging leaves every alias and version as it was.
            registering = True
            card = CardContext(
                settings.model_name, version, manifest, config, data_note(settings, manifest)
            )
            registered, decision = register_all(settings, logged, frames["test"], card)
            phases["register"] = time.monotonic() - started - sum(phases.values())
            mlflow.log_metrics({f"{name}_seconds": value for name, value in phases.items()})
    except Exception as error:  # noqa: BLE001  (re-raised, explained)
        raise _tracking_failure(settings, error, registering) from None
    result = summary(settings, parent.info, registered, decision, version, EXPERIMENT)
    # Where the job's time went: connecting and reading, the families (tuning, refit,
    # logging), the registry writes.
    result["phase_seconds"] = {name: round(value, 1) for name, value in phases.items()}
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _check_services(settings: Settings) -> Any:
    client = s3.client(settings)
    s3.check_reachable(settings, client)
    s3.require_bucket(client, settings.bucket_processed)
    tracking.use_tracking_server(settings)
    return client


def _read_splits(settings: Settings, manifest: dict[str, Any]) -> dict[str, Any]:
    connect(settings)
    frames = {split: datasets.read_split(settings, manifest, split) for split in manifest["splits"]}
    for split, frame in frames.items():
        if frame.empty:
            raise BurnoutError(f"split '{split}' of {manifest['dataset_version']} has no rows")
    return frames


def _tune_and_log(
    settings: Settings,
    config: dict[str, Any],
    frames: dict[str, Any],
    where: Tracking,
    sequential: bool,
    resume: bool,
) -> list[Logged]:
    # Tune reads the experiment-state period only from the driver's environment ("auto" means
    # every 10 s or more): the trials a killed driver's successor must redo.
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = str(settings.tune_state_every_s)
    tune_log_filter.install()
    tune_settings = {
        "seed": config["seed"],
        "metric": config["metric"],
        "cpus_per_trial": config["cpus_per_trial"],
        "storage_path": settings.tune_storage,
        "storage_filesystem": s3.arrow_fs(settings),
        "run_name": where.tune_run,
        "resume": resume,
    }
    families = list(config["families"])

    def family_run(family: str) -> Logged:
        family_config = config["families"][family]
        log.info("tuning %s: %d trials", family, family_config["num_samples"])
        item = tune_and_log(
            family,
            family_config,
            tune_settings,
            frames["train"],
            frames["validation"],
            frames["test"],
            where,
        )
        return _finished(item)

    # Sequential mode runs the same threads one at a time: a family's child run must start
    # outside the thread where the parent run is active.
    workers = 1 if sequential else len(families)
    with (
        abort_switch(tune_settings["run_name"]) as abort,
        ThreadPoolExecutor(workers, thread_name_prefix="family") as pool,
    ):
        futures = [pool.submit(family_run, family) for family in families]
        try:
            logged = [future.result() for future in as_completed(futures)]
        except BaseException:
            abort.set()  # a family failed: the others' compute would be wasted
            for future in futures:  # families not started yet (sequential mode)
                future.cancel()
            raise
    return sorted(logged, key=lambda item: families.index(item.family))


def _finished(item: Logged) -> Logged:
    result = item.result
    log.info(
        "%s done in %.0f s: val RMSE %.4f, test RMSE %.4f, R2 %.4f (run %s)",
        result.family, result.seconds, result.best_validation.get("val_rmse", float("nan")),
        result.test_metrics["rmse"], result.test_metrics["r2"], item.run_id,
    )  # fmt: skip
    return item


def _tracking_failure(settings: Settings, error: Exception, registering: bool) -> Exception:
    """Expected failures keep their message; an MLflow outage says what it left behind."""
    if isinstance(error, BurnoutError):
        return error
    try:
        tracking.check_reachable(settings)
    except ServiceUnavailable as down:
        state = (
            "while registering: check the family aliases (the champion moves last)"
            if registering
            else "before any registry change: the model registry is as it was"
        )
        return ServiceUnavailable(f"training failed {state}; {down}")
    return error


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main(
    dataset_version: Annotated[str, typer.Option(help="default: the latest complete one")] = "",
    config: Annotated[Path, typer.Option(help="training config YAML")] = DEFAULT_CONFIG,
    trials: Annotated[
        int | None, typer.Option(min=1, help="trials per family (overrides config)")
    ] = None,
    families: Annotated[str, typer.Option(help="comma-separated subset of lightgbm,knn,svm")] = "",
    sequential: Annotated[bool, typer.Option(help="tune families one after another")] = False,
    resume_key: Annotated[
        str, typer.Option(help="attempts with the same key, data and config resume one another")
    ] = "",
) -> None:
    """Tune, track, register and maybe promote; prints a JSON summary last."""
    settings = get_settings()
    chosen = [f.strip() for f in families.split(",") if f.strip()] or None
    summary = run_training(
        settings,
        load_config(config, trials, chosen),
        dataset_version or None,
        sequential,
        resume_key or None,
    )
    champion = summary["champion"]
    log.info(
        "champion: %s v%s (test RMSE %.4f, R2 %.4f); %s",
        champion["family"], champion["version"], champion["test_rmse"], champion["test_r2"],
        summary["promotion_reason"],
    )  # fmt: skip
    typer.echo(json.dumps({**summary, "nodes": job_placement()}, default=str))


if __name__ == "__main__":
    cli.run(app, job=True)
