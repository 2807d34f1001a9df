"""S3 helpers shared by the jobs: clients, URIs, small JSON objects, prefix copies."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow.fs as pafs
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from ray_jobs.core.errors import NotFound, ServiceUnavailable
from ray_jobs.core.settings import Settings

_START_HINT = "start the local stack with `make up` or set BURNOUT_S3_ENDPOINT_URL"


# S3 object metadata on generated raw files (ray_jobs.ingest): a model card says when a model was
# trained on them.
GENERATOR_METADATA = "burnout-generator"
# Where serving's inference log lands in the data bucket (serve_app.inference_log writes,
# ray_jobs.monitor reads): <prefix>/date=YYYY-MM-DD/*.parquet
INFERENCE_PREFIX = "inference"
# Where the drift job publishes its summaries in the processed bucket (ray_jobs.monitor writes,
# serving's drift gauges read the latest).
MONITORING_PREFIX = "monitoring"
LATEST_DRIFT_SUMMARY = f"{MONITORING_PREFIX}/latest.json"


@dataclass(frozen=True)
class S3Uri:
    """A bucket and a key (or key prefix)."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """Parse 's3://bucket/key'; the key may be empty or a prefix."""
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def path(self) -> str:
        """'bucket/key', the form pyarrow file systems take."""
        return f"{self.bucket}/{self.key}".rstrip("/")

    def child(self, *parts: str) -> S3Uri:
        """A key under this prefix."""
        base = self.key.rstrip("/")
        tail = "/".join(p.strip("/") for p in parts)
        return S3Uri(self.bucket, f"{base}/{tail}" if base else tail)


def client(settings: Settings, attempts: int = 3, read_timeout: float = 60) -> Any:
    """A boto3 S3 client that fails fast when the endpoint is down."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=keys[0] if (keys := settings.s3_keys()) else None,
        aws_secret_access_key=keys[1] if keys else None,
        region_name=settings.s3_region,
        config=Config(
            connect_timeout=3,
            read_timeout=read_timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def arrow_fs(settings: Settings) -> pafs.S3FileSystem:
    """A pyarrow S3 file system for Ray Data reads and writes."""
    return pafs.S3FileSystem(
        access_key=keys[0] if (keys := settings.s3_keys()) else None,
        secret_key=keys[1] if keys else None,
        endpoint_override=settings.s3_endpoint_url,
        region=settings.s3_region,
        scheme="https" if settings.s3_endpoint_url.startswith("https") else "http",
        connect_timeout=3,
        request_timeout=60,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    )


def check_reachable(settings: Settings, s3: Any | None = None) -> None:
    """Fail with one clear line when S3 is down or refuses our keys."""
    s3 = s3 or client(settings)
    try:
        s3.list_buckets()
    except EndpointConnectionError:
        raise ServiceUnavailable(
            f"S3 at {settings.s3_endpoint_url} is unreachable: {_START_HINT}"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ServiceUnavailable(
            f"S3 at {settings.s3_endpoint_url} refused the credentials ({code}): check "
            "BURNOUT_S3_ACCESS_KEY / BURNOUT_S3_SECRET_KEY"
        ) from None
    except BotoCoreError as error:
        raise ServiceUnavailable(
            f"S3 at {settings.s3_endpoint_url} is unreachable ({error}): {_START_HINT}"
        ) from None


def require_bucket(s3: Any, bucket: str) -> None:
    """Fail with a clear message when a bucket is missing."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        raise NotFound(
            f"bucket '{bucket}' does not exist: `make up` creates the project's buckets"
        ) from None


def ensure_buckets(s3: Any, buckets: list[str]) -> list[str]:
    """Create the buckets that do not exist yet; return the ones created."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for bucket in buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            created.append(bucket)
    return created


def round_trip(s3: Any, uri: S3Uri) -> None:
    """Write a small object and read it back; raise if either fails or the bytes differ."""
    body = os.urandom(16)
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body)
    if s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read() != body:
        raise OSError(f"{uri} read back different bytes")


def iter_objects(s3: Any, uri: S3Uri) -> Iterator[dict[str, Any]]:
    """Every object under a prefix (paginated), as boto3 dicts."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.key):
        yield from page.get("Contents", [])


def files(s3: Any, uri: S3Uri, suffix: str) -> list[dict[str, Any]]:
    """Non-empty objects under a prefix whose key ends with `suffix` (any case): key, size and
    ETag (what identifies an input file's content), sorted by key."""
    found = [
        {"key": o["Key"], "size": int(o["Size"]), "etag": str(o["ETag"]).strip('"')}
        for o in iter_objects(s3, uri)
        if o["Key"].lower().endswith(suffix) and int(o["Size"]) > 0
    ]
    return sorted(found, key=lambda o: o["key"])


def list_prefixes(s3: Any, uri: S3Uri) -> list[str]:
    """Immediate sub-prefixes ('folders') under a prefix."""
    prefix = uri.key.rstrip("/") + "/" if uri.key else ""
    paginator = s3.get_paginator("list_objects_v2")
    found: list[str] = []
    for page in paginator.paginate(Bucket=uri.bucket, Prefix=prefix, Delimiter="/"):
        found.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return found


def read_json(s3: Any, uri: S3Uri) -> dict[str, Any] | None:
    """A JSON object, or None when the key does not exist."""
    try:
        body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise
    return json.loads(body)


def write_json(s3: Any, uri: S3Uri, payload: dict[str, Any]) -> None:
    """Write a JSON object (one PUT, so readers see all of it or nothing)."""
    body = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, ContentType="application/json")


def read_head(s3: Any, uri: S3Uri, size: int = 65536) -> bytes:
    """The first bytes of an object (for headers)."""
    response = s3.get_object(Bucket=uri.bucket, Key=uri.key, Range=f"bytes=0-{size - 1}")
    return response["Body"].read()


def delete_prefix(s3: Any, uri: S3Uri) -> int:
    """Delete every object under a prefix; return how many."""
    keys = [{"Key": o["Key"]} for o in iter_objects(s3, uri)]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=uri.bucket, Delete={"Objects": keys[start : start + 1000]})
    return len(keys)


def copy_prefix(s3: Any, source: S3Uri, target: S3Uri) -> int:
    """Server-side copy of every object under `source` to the same relative key under `target`."""
    copied = 0
    base = source.key.rstrip("/") + "/"
    for obj in iter_objects(s3, source):
        relative = obj["Key"][len(base) :] if obj["Key"].startswith(base) else obj["Key"]
        s3.copy_object(
            Bucket=target.bucket,
            Key=target.child(relative).key,
            CopySource={"Bucket": source.bucket, "Key": obj["Key"]},
        )
        copied += 1
    return copied


def raw_csv_objects(client: Any, source: S3Uri) -> list[dict[str, Any]]:
    """The non-empty CSV files under a prefix (key, size, ETag), sorted; NotFound if none."""
    require_bucket(client, source.bucket)
    objects = files(client, source, ".csv")
    if not objects:
        raise NotFound(
            f"no CSV files under {source}: upload some with `python -m ray_jobs.ingest synthetic` "
            "or `python -m ray_jobs.ingest upload FILE`"
        )
    return objects
