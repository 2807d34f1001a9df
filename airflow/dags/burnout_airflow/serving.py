"""Tell the Serve application about a moved alias and check it answers, over its REST API.

Connection `burnout_serve` (type http): host and port of the REST ingress (127.0.0.1:8800 for
the local stack), password = the API token when BURNOUT_SERVE_API_TOKEN is set;
`AIRFLOW_CONN_BURNOUT_SERVE` works too.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

SERVE_CONN_ID = "burnout_serve"


def _endpoint(conn_id: str) -> tuple[str, str | None]:
    """Base URL and API token (the connection's password; none when the API token is off)."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    scheme = conn.extra_dejson.get("scheme", "http")
    return f"{scheme}://{conn.host}:{conn.port or 8800}", conn.password or None


def reload(conn_id: str = SERVE_CONN_ID) -> dict[str, Any]:
    """POST /models/reload: the replicas load whatever the aliases point at now."""
    import httpx

    from serve_app.client import bearer

    base_url, token = _endpoint(conn_id)
    response = httpx.post(f"{base_url}/models/reload", headers=bearer(token), timeout=120)
    response.raise_for_status()
    log.info("serving reloaded: %s", response.json())
    return dict(response.json())


def smoke_predict(conn_id: str = SERVE_CONN_ID) -> dict[str, Any]:
    """POST /predict with the sample record; returns the prediction and the model that answered."""
    from serve_app.client import rest_at

    prediction = rest_at(*_endpoint(conn_id))
    log.info("smoke prediction: %s", prediction)
    return prediction
