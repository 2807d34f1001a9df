"""The drift report as one self-contained HTML page: the summary table and, per column, the
reference and current distributions side by side (matplotlib, embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import pandas as pd

from features.drift import CATEGORICAL, NUMERIC, PREDICTION, monitored


def render(summary: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame) -> str:
    ref, cur = monitored(reference), monitored(current)
    rows = []
    for name, info in summary["features"].items():
        rows.append(_row(name, info))
    if "prediction" in summary:
        rows.append(_row(PREDICTION, {**summary["prediction"], "missing_reference": 0.0,
                                      "missing_current": 0.0}))  # fmt: skip
    model = summary.get("model", {})
    window = summary.get("window", {})
    head = (
        f"<h1>Drift: {html.escape(str(model.get('name', '')))} v{model.get('version', '?')}</h1>"
        f"<p>Window {window.get('from', '?')} .. {window.get('to', '?')}: "
        f"{summary['rows_current']} served rows vs {summary['rows_reference']} training rows "
        f"(dataset {html.escape(str(summary.get('dataset_version', '?')))}). "
        f"<b>{len(summary['drifted_features'])} of {len(summary['features'])} features drifted "
        f"({summary['share_drifted']:.0%}); dataset drift: "
        f"{'YES' if summary['dataset_drift'] else 'no'}</b>.</p>"
    )
    table = (
        "<table><tr><th>column</th><th>test</th><th>statistic</th><th>drifted</th>"
        "<th>missing (reference)</th><th>missing (current)</th></tr>" + "".join(rows) + "</table>"
    )
    picture = _figure(ref, cur)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>drift report</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2rem .5rem}.yes{background:#fdd}</style></head>"
        f"<body>{head}{table}<img alt='distributions' src='data:image/png;base64,{picture}'>"
        "</body></html>"
    )


def _row(name: str, info: dict[str, Any]) -> str:
    statistic = info.get("statistic")
    shown = "-" if statistic is None else f"{statistic:.4g}"
    flag = "yes" if info["drifted"] else "no"
    return (
        f"<tr class='{flag}'><td>{html.escape(name)}</td><td>{info['test']}</td><td>{shown}</td>"
        f"<td>{flag}</td><td>{info['missing_reference']:.1%}</td>"
        f"<td>{info['missing_current']:.1%}</td></tr>"
    )


def _figure(ref: pd.DataFrame, cur: pd.DataFrame) -> str:
    from matplotlib.figure import Figure

    columns = [*CATEGORICAL, *NUMERIC] + ([PREDICTION] if PREDICTION in cur.columns else [])
    fig = Figure(figsize=(12, 2.6 * ((len(columns) + 3) // 4)))
    axes = fig.subplots((len(columns) + 3) // 4, 4).ravel()
    for ax, name in zip(axes, columns, strict=False):
        if name in CATEGORICAL:
            shares = pd.DataFrame(
                {
                    "reference": ref[name].value_counts(normalize=True),
                    "current": cur[name].value_counts(normalize=True),
                }
            ).fillna(0)
            shares.plot.bar(ax=ax, rot=0)
        else:
            ax.hist(ref[name].dropna(), bins=30, density=True, alpha=0.5, label="reference")
            ax.hist(cur[name].dropna(), bins=30, density=True, alpha=0.5, label="current")
            ax.legend(fontsize=7)
        ax.set_title(name, fontsize=9)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    fig.tight_layout()
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=80)
    return base64.b64encode(sink.getvalue()).decode()
