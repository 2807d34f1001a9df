"""`python -m ray_jobs.train`."""

from ray_jobs.core import cli
from ray_jobs.train.job import app

if __name__ == "__main__":
    cli.run(app, job=True)
