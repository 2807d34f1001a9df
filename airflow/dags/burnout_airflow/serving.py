"""Tell the Serve application about a moved alias and check it answers, over its REST API.

Connection `burnout_serve` (type http): host and port of the REST ingress (127.0.0.1:8800 for
the local stack); `AIRFLOW_CONN_BURNOUT_SERVE` works too.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

SERVE_CONN_ID = "burnout_serve"


def _base_url(conn_id: str) -> str:
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    scheme = conn.extra_dejson.get("scheme", "http")
    return f"{scheme}://{conn.host}:{conn.port or 8800}"


def reload(conn_id: str = SERVE_CONN_ID) -> dict[str, Any]:
    """POST /models/reload: the replicas load whatever the aliases point at now."""
    import httpx

    response = httpx.post(f"{_base_url(conn_id)}/models/reload", timeout=120)
    response.raise_for_status()
    log.info("serving reloaded: %s", response.json())
    return dict(response.json())


def smoke_predict(conn_id: str = SERVE_CONN_ID) -> dict[str, Any]:
    """POST /predict with the sample record; returns the prediction and the model that answered."""
    from serve_app.smoke import rest_at

    prediction = rest_at(_base_url(conn_id))
    log.info("smoke prediction: %s", prediction)
    return prediction
