"""`python -m ray_jobs.etl`."""

from ray_jobs.core import cli
from ray_jobs.etl.job import app

if __name__ == "__main__":
    cli.run(app, job=True)
