"""The manifest of a dataset version (what was read, written, rejected and measured) and its
MLflow run. Written last by the ETL job: a version without `_manifest.json` is incomplete.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from features.schema import SCHEMA_VERSION
from features.splitting import DEFAULT_FRACTIONS, HASH_RULE, SPLITS
from ray_jobs.core import s3, tracking
from ray_jobs.core.errors import BurnoutError
from ray_jobs.etl.batch import CLEAN_SCHEMA, REJECTS

ETL_VERSION = "2"  # 2: Arrow reading, split hash v2 (features.splitting)
EXPERIMENT = "etl"


def build_manifest(
    *,
    version: str,
    source: s3.S3Uri,
    objects: list[dict[str, Any]],
    target: s3.S3Uri,
    stats: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    if stats["rows_in"] != stats["rows_out"] + stats["rows_rejected"]:
        raise BurnoutError(
            f"row accounting failed: {stats['rows_in']} in != {stats['rows_out']} out + "
            f"{stats['rows_rejected']} rejected; nothing was published"
        )
    splits = {
        s: {"uri": f"{target.child(s)}/", "rows": stats["splits"].get(s, {}).get("rows", 0)}
        for s in SPLITS
    }
    return {
        "dataset_version": version,
        "complete": True,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 2),
        "schema_version": SCHEMA_VERSION,
        "etl_version": ETL_VERSION,
        "input": {"uri": str(source), "objects": objects},
        "read": stats.get("read"),  # one Ray task per file, or blocks spread over tasks
        "schema": [{"name": f.name, "type": str(f.type)} for f in CLEAN_SCHEMA],
        "split_rule": {
            "hash": HASH_RULE,
            "fractions": dict(zip(SPLITS, DEFAULT_FRACTIONS, strict=True)),
        },
        "splits": splits,
        "rejects": {"uri": f"{target.child(REJECTS)}/", "rows": stats["rows_rejected"]},
        "rows": {
            "in": stats["rows_in"],
            "out": stats["rows_out"],
            "rejected": stats["rows_rejected"],
        },
        "rejected_by_reason": stats["rejected_by_reason"],
        "statistics": {"splits": stats["splits"], "all": stats["all"]},
    }


def log_to_mlflow(manifest: dict[str, Any]) -> str:
    """The manifest's counts and statistics as an MLflow run of the `etl` experiment."""
    import mlflow

    tracking.use_experiment(EXPERIMENT)
    version = manifest["dataset_version"]
    with mlflow.start_run(run_name=f"etl-{version}") as run:
        mlflow.set_tags({"dataset_version": version, "input_uri": manifest["input"]["uri"]})
        mlflow.log_params(
            {
                "input_files": len(manifest["input"]["objects"]),
                "schema_version": manifest["schema_version"],
                "etl_version": manifest["etl_version"],
                "split_fractions": json.dumps(manifest["split_rule"]["fractions"]),
            }
        )
        mlflow.log_metrics(_flat_metrics(manifest))
        mlflow.log_dict(manifest, "manifest.json")
    return str(run.info.run_id)


def _flat_metrics(manifest: dict[str, Any]) -> dict[str, float]:
    rows = manifest["rows"]
    metrics: dict[str, float] = {
        "rows_in": rows["in"],
        "rows_out": rows["out"],
        "rows_rejected": rows["rejected"],
        "seconds": manifest["seconds"],
    }
    for split, info in manifest["splits"].items():
        metrics[f"rows_{split}"] = info["rows"]
    overall = manifest["statistics"]["all"]
    for name, count in overall["missing"].items():
        metrics[f"missing_{name}"] = count
    for name, values in overall["numeric"].items():
        for key in ("mean", "std", "min", "max"):
            if values[key] is not None:
                metrics[f"{key}_{name}"] = values[key]
    return metrics
