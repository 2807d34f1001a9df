"""The monitoring files of docker-compose: the `burnout` Grafana dashboard, Prometheus' config and
alert rules. No Grafana or Prometheus binary here, so their structure is checked as they read it
and every query's metric names against what the service exports (by name here; by a real scrape
in tests/integration/test_monitoring.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from serve_app.drift_gauges import DRIFT_METRIC_NAMES
from serve_app.replica_metrics import METRIC_NAMES

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "burnout.json"
PROMQL_WORDS = {
    "by", "without", "or", "and", "unless", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, grouping dropped)."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)
    return {n for n in names if n.lower() not in PROMQL_WORDS}


def queries() -> list[str]:
    """Every PromQL expression of the dashboard and the alert rules."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    rules = yaml.safe_load((MONITORING / "rules.yml").read_text())
    return exprs + [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_metrics() -> set[str]:
    return {name for expr in queries() for name in metric_names(expr)}


def test_metric_names_are_read_out_of_promql() -> None:
    expr = 'histogram_quantile(0.99, sum by (le) (rate(ray_x_bucket{a="b"}[1m]))) or vector(0)'
    assert metric_names(expr) == {"ray_x_bucket"}
    assert metric_names("time() - max(ray_y)") == {"ray_y"}


def test_every_query_names_a_metric_of_ours_or_of_serve() -> None:
    ours = set(METRIC_NAMES) | set(DRIFT_METRIC_NAMES)
    names = dashboard_metrics()
    assert ours <= names, f"not on the dashboard: {sorted(ours - names)}"
    assert all(n in ours or n.startswith("ray_serve_") for n in names), sorted(names - ours)


def test_the_dashboard_is_one_grafana_reads() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "burnout" and dashboard["schemaVersion"] >= 36
    datasources = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] in uids, panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_prometheus_reads_rays_service_discovery_and_the_rules() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (ray,) = [job for job in config["scrape_configs"] if job["job_name"] == "ray"]
    # Written by the Ray head in its temp dir (ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE),
    # listing every node's exporter.
    assert ray["file_sd_configs"][0]["files"] == ["/tmp/ray/prom_metrics_service_discovery.json"]
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    rules = yaml.safe_load((MONITORING / "rules.yml").read_text())["groups"][0]["rules"]
    assert all(r["alert"] and r["annotations"]["summary"] for r in rules)
