"""burnout_monitoring: drift report of the served predictions -> retrain on new data -> alert.

The drift job (`python -m ray_jobs.monitor`) runs as a Ray job over the last `days` of the
inference log. When the share of drifted features passes the job's threshold, the run fails
loudly at `alert_on_drift` (a task failure Airflow can notify on), after `retrain` has
triggered `burnout_pipeline` on the newest labelled raw data that landed since the champion's
dataset was built, if any (its promotion gate still decides whether anything changes).
Manual like the other DAGs until BURNOUT_MONITORING_SCHEDULE (cron or preset, e.g. @daily) is
set in Airflow's environment.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task
from burnout_airflow.defaults import dag_args

PIPELINE = "burnout_pipeline"


@dag(
    dag_id="burnout_monitoring",
    params={
        "days": Param(1, type="integer", minimum=1, maximum=90, description="log window"),
        "log_prefix": Param("inference", type="string", description="in the data bucket"),
    },
    doc_md=__doc__,
    **dag_args("BURNOUT_MONITORING_SCHEDULE", "monitoring"),
)
def burnout_monitoring() -> None:
    @task
    def drift_report(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The drift job's JSON summary (report and summary also in MLflow and on S3)."""
        from burnout_airflow import ray_job

        assert params is not None

        return ray_job.run(
            f"python -m ray_jobs.monitor --days {int(params['days'])}"
            f" --log-prefix {params['log_prefix']}",
            1800,
        )

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def new_data_to_retrain_on(drift: dict[str, Any]) -> bool:
        """Go on to `retrain` only if the inputs drifted and new labelled data is there."""
        return bool(drift["dataset_drift"] and drift.get("new_labelled_inputs"))

    @task(trigger_rule="all_done")
    def alert_on_drift(drift: dict[str, Any]) -> dict[str, Any]:
        """Fail loudly when the dataset drifted; the summary otherwise."""
        from airflow.exceptions import AirflowFailException

        if drift["dataset_drift"]:
            raise AirflowFailException(
                f"input drift on {drift['model']['name']} v{drift['model']['version']}: "
                f"{len(drift['drifted_features'])} of {len(drift['features'])} features "
                f"({drift['share_drifted']:.0%}: {', '.join(drift['drifted_features'])}); "
                f"report: MLflow run {drift['mlflow_run_id']}, summary {drift['summary_uri']}"
            )
        return {"share_drifted": drift["share_drifted"], "rows": drift["rows_current"]}

    drift = drift_report()
    retrain = TriggerDagRunOperator(
        task_id="retrain",
        trigger_dag_id=PIPELINE,
        conf={"input": "{{ ti.xcom_pull(task_ids='drift_report')['new_labelled_inputs'][-1] }}"},
        wait_for_completion=False,
    )
    new_data_to_retrain_on(drift) >> retrain >> alert_on_drift(drift)


burnout_monitoring()
