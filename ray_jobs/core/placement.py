"""Where a job's work ran: node ids from Ray's state API (what the dashboard's job view shows).

A job's summary carries them so that a multi-node run can be checked from its output alone.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)

EVENTS_FLUSH_S = 2.0  # workers report task events to the GCS about once a second
MAX_TASKS = 10_000  # the state API's own ceiling (RAY_MAX_LIMIT_FROM_API_SERVER)
_work_done_at: list[float] = []  # when the job's last Ray work ended, if it said so


def work_done() -> None:
    """Mark the end of the job's Ray work: job_placement then waits for the task events only
    what is left of EVENTS_FLUSH_S, not the whole of it after the job's remaining steps."""
    _work_done_at[:] = [time.monotonic()]


def job_placement() -> dict[str, Any]:
    """The driver's node and, per node id, how many of this job's tasks and actors ran there.

    Never fails the job: if the state API cannot answer, the summary says why instead.
    """
    if "ray" not in sys.modules:  # nothing ran on Ray (e.g. the dataset version existed)
        return {}
    import ray
    from ray.util.state import list_actors, list_tasks

    if not ray.is_initialized():
        return {}
    context = ray.get_runtime_context()
    since = time.monotonic() - _work_done_at[0] if _work_done_at else 0.0
    time.sleep(max(0.0, EVENTS_FLUSH_S - since))
    where = {
        "filters": [("job_id", "=", context.get_job_id())],
        "limit": MAX_TASKS,
        "detail": True,
        "raise_on_missing_output": False,
        "timeout": 30,
    }
    try:
        tasks, actors = list_tasks(**where), list_actors(**where)
    except Exception as error:  # noqa: BLE001  (placement is reported, never required)
        log.warning("could not list this job's tasks: %s", error)
        return {"driver_node": context.get_node_id(), "error": str(error)}
    work: Counter[str] = Counter()
    bookkeeping: Counter[str] = Counter()
    placed = [(t.node_id, t.required_resources) for t in tasks if t.type != "ACTOR_CREATION_TASK"]
    # An actor's creation task carries no node id, its actor does (Tune's trial actors).
    placed += [(a.node_id, a.required_resources) for a in actors]
    for node, resources in placed:
        if node:
            (work if reserved_cpus(resources) > 0 else bookkeeping)[node] += 1
    return {
        "driver_node": context.get_node_id(),
        # Tasks and actors that reserved a CPU (Ray Data's reads, transforms and writes, Tune's
        # trial actors) ...
        "cpu_task_nodes": dict(work.most_common()),
        # ... and the rest: method calls on those actors, and coordinating actors that reserve
        # nothing (Ray Data keeps some of them on the driver's node).
        "other_task_nodes": dict(bookkeeping.most_common()),
    }


def reserved_cpus(resources: dict[str, float] | None) -> float:
    """The CPUs a task or actor reserved: `CPU`, or, inside a placement group (Tune's trial
    actors), its bundle's `CPU_group_<index>_<group>` and `CPU_group_<group>` (the same CPUs,
    named twice)."""
    resources = resources or {}
    if "CPU" in resources:
        return float(resources["CPU"])
    return float(max((v for k, v in resources.items() if k.startswith("CPU_group_")), default=0))
