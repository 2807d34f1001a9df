"""Put raw data into S3 (synthetic data of any size, or a real CSV such as the Kaggle file) and
check what is there.

python -m ray_jobs.ingest synthetic --rows 20000 --seed 42
python -m ray_jobs.ingest upload employee_burnout_train.csv --name kaggle
python -m ray_jobs.ingest check --input s3://data/raw/kaggle/
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from features.synthetic import DEFAULT_CHUNK_ROWS, generate_chunks
from ray_jobs.core import cli, s3
from ray_jobs.core.errors import NotFound
from ray_jobs.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def raw_prefix(settings: Settings, name: str) -> s3.S3Uri:
    """s3://<data bucket>/raw/<name>/"""
    return s3.S3Uri(settings.bucket_data, f"raw/{name.strip('/')}/")


def upload_synthetic(
    settings: Settings, rows: int, seed: int, target: s3.S3Uri, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> list[str]:
    """Generate and stream `rows` synthetic rows to S3, one CSV part per chunk."""
    client = s3.client(settings)
    s3.check_reachable(settings, client)
    s3.require_bucket(client, target.bucket)
    keys = []
    for index, frame in enumerate(generate_chunks(rows, seed, chunk_rows)):
        key = target.child(f"part-{index:05d}.csv").key
        client.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=frame.to_csv(index=False).encode(),
            Metadata={s3.GENERATOR_METADATA: f"features.synthetic seed {seed}"},
        )
        keys.append(key)
        log.info("wrote s3://%s/%s (%d rows)", target.bucket, key, len(frame))
    return keys


def upload_file(settings: Settings, path: Path, target: s3.S3Uri) -> str:
    """Upload one local CSV file under the target prefix (multipart for large files)."""
    if not path.is_file():
        raise NotFound(f"{path} does not exist or is not a file")
    client = s3.client(settings)
    s3.check_reachable(settings, client)
    s3.require_bucket(client, target.bucket)
    key = target.child(path.name).key
    client.upload_file(str(path), target.bucket, key)
    log.info("uploaded %s to s3://%s/%s", path, target.bucket, key)
    return key


app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)


@app.command()
def synthetic(
    rows: int = typer.Option(20_000, min=1, max=50_000_000, help="number of employees"),
    seed: int = typer.Option(42, help="random seed (same seed, same data)"),
    name: str = typer.Option(
        "", help="folder under s3://<data>/raw/ (default synthetic-<rows>-s<seed>)"
    ),
    chunk_rows: int = typer.Option(DEFAULT_CHUNK_ROWS, min=1_000, help="rows per CSV part"),
) -> None:
    """Generate synthetic HackerEarth-shaped data straight into S3."""
    settings = get_settings()
    target = raw_prefix(settings, name or f"synthetic-{rows}-s{seed}")
    upload_synthetic(settings, rows, seed, target, chunk_rows)
    typer.echo(str(target))


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="a local CSV with the HackerEarth columns")],
    name: str = typer.Option("", help="folder under s3://<data>/raw/ (default: the file stem)"),
) -> None:
    """Upload a real CSV (for example the public Kaggle file) as raw data."""
    settings = get_settings()
    target = raw_prefix(settings, name or path.stem)
    upload_file(settings, path, target)
    typer.echo(str(target))


@app.command()
def check(input_uri: str = typer.Option(..., "--input", help="s3://bucket/prefix/")) -> None:
    """Fail unless raw CSV files are present; print their count and size as JSON."""
    settings = get_settings()
    client = s3.client(settings)
    s3.check_reachable(settings, client)
    objects = s3.raw_csv_objects(client, s3.S3Uri.parse(input_uri))
    summary = {"input": input_uri, "files": len(objects), "bytes": sum(o["size"] for o in objects)}
    log.info("%d CSV files (%d bytes) under %s", summary["files"], summary["bytes"], input_uri)
    typer.echo(json.dumps(summary))


if __name__ == "__main__":
    cli.run(app)
