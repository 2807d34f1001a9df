"""Open the pages a newcomer opens, in headless Chromium, with the internet cut off.

    python -m local_stack.browser_check      (against the running stack; screenshots in .run/)

Checks that the MLflow UI lists the training runs of an experiment, that `/docs` (Swagger UI)
lists the API's operations, and that GraphiQL runs a query; every request to a host other than
this stack's fails the check, so a page that needs a CDN cannot pass. Needs Chromium
(`apt-get install chromium`) and the `playwright` package (dev lock) to drive it.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from ray_jobs.core import cli
from ray_jobs.core.errors import BurnoutError
from ray_jobs.core.settings import Settings, get_settings
from serve_app.client import ServeClient

log = logging.getLogger(__name__)

# As the machine notes advise: no sandbox as root, no background calls to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


def chromium() -> str | None:
    """Chromium's executable: BURNOUT_CHROMIUM, else Debian's chromium on PATH."""
    return os.environ.get("BURNOUT_CHROMIUM") or shutil.which("chromium")


@dataclass
class BrowserReport:
    """What the check saw: screenshots, blocked off-stack requests, what each page showed."""

    screenshots: dict[str, Path] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)


def _offline(report: BrowserReport, allowed_hosts: set[str]) -> Any:
    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in allowed_hosts:
            route.continue_()
        else:
            report.blocked.append(url)
            route.abort()

    return route


def check_pages(settings: Settings, run_name: str, experiment_id: str, out: Path) -> BrowserReport:
    """Drive the MLflow runs page, /docs and GraphiQL; raise BurnoutError on the first miss."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise BurnoutError("Chromium is not installed: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    report = BrowserReport()
    api = ServeClient.for_settings(settings).base_url
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.route("**/*", _offline(report, {settings.host, "127.0.0.1", "localhost"}))
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        # The experiment's "Training runs" page (MLflow 3 opens an experiment on a GenAI overview).
        page.goto(f"{settings.mlflow_tracking_uri}/#/experiments/{experiment_id}/runs")
        report.screenshots["mlflow"] = out / "mlflow-runs.png"
        try:
            page.get_by_text(run_name).first.wait_for()
        finally:
            _shot(page, report.screenshots["mlflow"])
        report.found["mlflow_run"] = run_name

        page.goto(f"{api}/docs")
        page.locator(".opblock-summary-path").first.wait_for()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        report.found["docs_operations"] = paths
        report.screenshots["docs"] = _shot(page, out / "docs.png")

        # GraphiQL opens with an example query (health and one prediction): run it.
        page.goto(f"{api}/graphql")
        page.locator(".graphiql-execute-button").click()
        result = page.locator(".result-window")
        result.get_by_text('"status"').first.wait_for()
        report.found["graphiql_result"] = result.inner_text()
        report.screenshots["graphiql"] = _shot(page, out / "graphiql.png")
        browser.close()
    if report.blocked:
        raise BurnoutError(f"pages tried to reach hosts beyond the stack: {report.blocked[:5]}")
    return report


def _shot(page: Any, path: Path) -> Path:
    page.screenshot(path=str(path))
    return path


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command()
def main() -> None:
    """Check the pages of the running local stack; screenshots go to <run_dir>/screenshots."""
    import mlflow

    settings = get_settings()
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("training")
    if experiment is None:
        raise BurnoutError("no 'training' experiment yet: run `make demo` or `burnout train`")
    runs = client.search_runs([experiment.experiment_id], max_results=200)
    run = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)  # listed on top
    report = check_pages(
        settings, run.info.run_name, experiment.experiment_id, settings.run_dir / "screenshots"
    )
    for name, path in report.screenshots.items():
        typer.echo(f"{name:<9} ok   {path}")


if __name__ == "__main__":
    cli.run(app)
