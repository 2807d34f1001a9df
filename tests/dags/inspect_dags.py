"""Run by the DAG tests with Airflow's own interpreter: what Airflow's DagBag sees, as JSON.

.venv-airflow/bin/python tests/dags/inspect_dags.py DAGS_FOLDER
"""

from __future__ import annotations

import json
import sys
import time


def main(folder: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=folder)
    seconds = time.perf_counter() - started
    dags = {
        dag_id: {
            "tags": sorted(dag.tags),
            "timetable": type(dag.timetable).__name__,
            "tasks": {
                task.task_id: {
                    "retries": task.retries,
                    "execution_timeout_s": task.execution_timeout.total_seconds()
                    if task.execution_timeout
                    else None,
                    "downstream": sorted(task.downstream_task_ids),
                    "trigger_rule": getattr(task.trigger_rule, "value", str(task.trigger_rule)),
                }
                for task in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    }
    report = {
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
        "dags": dags,
        "parse_seconds": seconds,
    }
    # Last line of stdout, whatever Airflow itself printed before it.
    sys.stdout.write("\n" + json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
