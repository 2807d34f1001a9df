"""The predictions' own fields as columns: what a columnar answer (serve_app.columnar) and the
inference log (serve_app.inference_rows) both write next to the input's fields."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

FIELDS = (
    pa.field("burn_rate", pa.float64()),
    pa.field("risk_level", pa.string()),
    pa.field("model_name", pa.string()),
    pa.field("model_alias", pa.string()),
    pa.field("model_version", pa.string()),
)


def columns(predictions: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """`FIELDS` of the predictions, one list per field, in order."""
    models = [p["model"] for p in predictions]
    out: dict[str, list[Any]] = {
        "burn_rate": [p["burn_rate"] for p in predictions],
        "risk_level": [p["risk_level"] for p in predictions],
    }
    for part in ("name", "alias", "version"):
        out[f"model_{part}"] = [m[part] for m in models]
    return out
