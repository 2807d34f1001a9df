"""burnout_pipeline: raw data in S3 -> ETL -> training -> reload serving if champion moved -> smoke.

Every heavy step is a Ray job submitted over the Ray Jobs API (`burnout_airflow.ray_job`); the
tasks only wait and pass the jobs' JSON summaries along. Manual trigger by default; set
BURNOUT_PIPELINE_SCHEDULE (cron or preset) in Airflow's environment to schedule it.
"""

from __future__ import annotations

import shlex
from typing import Any

from airflow.sdk import Param, dag, task
from burnout_airflow.defaults import dag_args


@dag(
    dag_id="burnout_pipeline",
    params={
        "input": Param("s3://data/raw/demo/", type="string", pattern=r"^s3://[^/]+/.*"),
        "trials": Param(0, type="integer", minimum=0, description="per family; 0 = config"),
        "force_etl": Param(False, type="boolean", description="rebuild a complete version"),
    },
    doc_md=__doc__,
    **dag_args("BURNOUT_PIPELINE_SCHEDULE"),
)
def burnout_pipeline() -> None:
    @task
    def raw_data_present(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fail (and retry) until CSV files are under the input prefix."""
        from burnout_airflow import ray_job

        assert params is not None

        return ray_job.run(
            f"python -m ray_jobs.ingest check --input {shlex.quote(params['input'])}", 600
        )

    @task
    def etl(raw: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate, clean, split and publish a dataset version (a complete one is reused)."""
        from burnout_airflow import ray_job

        assert params is not None

        command = f"python -m ray_jobs.etl --input {shlex.quote(raw['input'])}"
        if params["force_etl"]:
            command += " --force"
        return ray_job.run(command, 3600)

    @task
    def train(dataset: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Tune the three families, register them, move champion only if it wins. A retry whose
        job died resumes its Tune experiments from S3 (same resume key)."""
        from burnout_airflow import ray_job

        assert params is not None

        command = (
            f"python -m ray_jobs.train --dataset-version {dataset['dataset_version']}"
            f" --resume-key {ray_job.current_key()}"
        )
        if params["trials"]:
            command += f" --trials {int(params['trials'])}"
        return ray_job.run(command, 3 * 3600)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def champion_moved(training: dict[str, Any]) -> bool:
        """Skip the reload when the champion stayed where it was."""
        return bool(training["promoted"])

    @task
    def reload_serving() -> dict[str, Any]:
        from burnout_airflow import serving

        return serving.reload()

    @task(trigger_rule="none_failed")
    def smoke_predict() -> dict[str, Any]:
        """One REST prediction; its answer (and the model version) is this task's XCom."""
        from burnout_airflow import serving

        return serving.smoke_predict()

    raw = raw_data_present()
    training = train(etl(raw))
    champion_moved(training) >> reload_serving() >> smoke_predict()


burnout_pipeline()
