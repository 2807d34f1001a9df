"""`python -m ray_jobs.monitor`."""

from ray_jobs.core import cli
from ray_jobs.monitor.job import app

if __name__ == "__main__":
    cli.run(app, job=True)
