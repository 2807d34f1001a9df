"""What names a training job's Tune experiments and MLflow runs, so a resubmitted job finds the
killed attempt's: the resume key, the dataset version and the config's digest."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from typing import Any

from ray_jobs.train.family_runs import TUNE_RUN_TAG

log = logging.getLogger(__name__)


def tune_run_name(version: str, config: dict[str, Any], resume_key: str | None) -> str:
    """The name of the job's Tune experiments (one per family): with a resume key, the same for
    every attempt of a submission with the same data and config; otherwise new each time."""
    if not resume_key:
        return f"{version}-{int(time.time())}"
    key = re.sub(r"[^A-Za-z0-9_-]+", "_", resume_key)[:80]
    return f"{version}-{config_sha(config)}-{key}"


def close_abandoned_runs(run_name: str, experiment_name: str) -> None:
    """Runs an earlier attempt left RUNNING (its driver was killed) are marked KILLED."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        return
    abandoned = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.{TUNE_RUN_TAG} = '{run_name}' and attributes.status = 'RUNNING'",
    )
    for run in abandoned:
        client.set_terminated(run.info.run_id, status="KILLED")
    if abandoned:
        log.info("marked %d runs of an earlier attempt of %s KILLED", len(abandoned), run_name)


def config_sha(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
