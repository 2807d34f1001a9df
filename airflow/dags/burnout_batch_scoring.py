"""burnout_batch_scoring: score the files that arrived under an input prefix since the last run.

One Ray job (`ray_jobs.batch_predict`) per run: files already scored by an earlier run (same key
and ETag) are left out, so a daily schedule scores each file once. Output per run under
`<output_root>/<run>/` with the model version on every row. Manual trigger by default; set
BURNOUT_SCORING_SCHEDULE in Airflow's environment to schedule it.
"""

from __future__ import annotations

import shlex
from typing import Any

from airflow.sdk import Param, dag, task
from burnout_airflow.defaults import dag_args, safe_name


@dag(
    dag_id="burnout_batch_scoring",
    params={
        "input": Param("s3://data/score/incoming/", type="string", pattern=r"^s3://[^/]+/.*"),
        "output_root": Param("s3://processed/scores/", type="string", pattern=r"^s3://[^/]+/.*/$"),
        "model": Param("champion", type="string", description="registry alias"),
    },
    doc_md=__doc__,
    **dag_args("BURNOUT_SCORING_SCHEDULE", "scoring"),
)
def burnout_batch_scoring() -> None:
    @task
    def score_new_files(
        params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Submit the batch scoring job for the files no earlier run scored."""
        from burnout_airflow import ray_job

        assert params is not None and run_id is not None
        folder = safe_name(run_id)
        command = shlex.join(
            [
                "python", "-m", "ray_jobs.batch_predict",
                "--input", params["input"],
                "--output", f"{params['output_root']}{folder}/",
                "--model", params["model"],
                "--skip-scored-under", params["output_root"],
            ]
        )  # fmt: skip
        return ray_job.run(command, 3600)

    score_new_files()


burnout_batch_scoring()
