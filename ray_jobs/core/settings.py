"""Settings: one pydantic-settings class, read from the environment (prefix BURNOUT_) and `.env`."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ray_jobs.core.errors import ConfigError

ENV_PREFIX = "BURNOUT_"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Every address, port, bucket and credential the project uses.

    Endpoints left empty are derived from `host` and the ports, which is what the embedded local
    stack serves; point them elsewhere (MinIO, a remote MLflow, a Ray cluster) to use others.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An empty variable means "the default": compose passes optional settings as ${X:-}.
        env_ignore_empty=True,
    )

    host: str = "127.0.0.1"
    run_dir: Path = Path(".run")
    # Unix sockets (Ray's, HAProxy's) need short paths (see local_stack/run_paths.py); empty means
    # /tmp/br-<hash of run_dir>, whatever the checkout's depth.
    socket_dir: Path | None = None
    log_level: str = Field("INFO", pattern=r"(?i)^(debug|info|warning|error)$")

    # Static keys, or neither: boto3 and pyarrow then take the environment's credentials (an EC2
    # instance profile, EKS pod identity / IRSA). The local stack's S3 needs keys.
    s3_access_key: SecretStr | None = Field(None, min_length=3)
    s3_secret_key: SecretStr | None = Field(None, min_length=8)
    s3_region: str = "us-east-1"
    s3_port: int = Field(9000, ge=1, le=65535)
    s3_internal_base_port: int = Field(9330, ge=1, le=55530)
    s3_endpoint_url: str = ""
    bucket_data: str = "data"
    bucket_processed: str = "processed"
    bucket_mlflow: str = "mlflow"
    # Ray Tune's experiment state (bucket/prefix on the same S3): every node and a restarted
    # driver see it, unlike a folder on the driver's disk.
    tune_storage: str = "processed/tune"
    # How often each Tuner writes its experiment state there: what a resumed job can lose.
    tune_state_every_s: float = Field(5.0, gt=0, le=600)

    mlflow_port: int = Field(5001, ge=1, le=65535)
    mlflow_tracking_uri: str = ""

    ray_gcs_port: int = Field(6380, ge=1, le=65535)
    ray_dashboard_port: int = Field(8265, ge=1, le=65535)
    ray_internal_base_port: int = Field(21000, ge=1024, le=60000)
    ray_address: str = ""
    # The head's CPUs; 0 keeps tasks, trials and replicas off the head (then workers are needed).
    ray_num_cpus: int = Field(2, ge=0)
    ray_object_store_mb: int = Field(1024, ge=128)
    # Extra Ray nodes the local stack starts on this machine (real raylets joining the head).
    ray_workers: int = Field(0, ge=0, le=8)
    ray_worker_num_cpus: int = Field(1, ge=1)
    ray_worker_object_store_mb: int = Field(384, ge=128)
    ray_auth_mode: Literal["token", "disabled"] = "token"
    ray_auth_token: SecretStr | None = None

    model_name: str = "burnout-rate"
    champion_alias: str = "champion"
    # Fairness gate (off when unset): champion moves only if the candidate's largest RMSE gap
    # between slices of employees is at most this much worse than the champion's.
    promotion_max_gap_increase: float | None = Field(None, ge=0, le=1)

    serve_http_port: int = Field(8800, ge=1, le=65535)
    serve_grpc_port: int = Field(50051, ge=1, le=65535)
    serve_app_name: str = "burnout"
    serve_min_replicas: int = Field(1, ge=1)
    serve_max_replicas: int = Field(2, ge=1)
    # The load autoscaling compares with this is each replica's requests in flight averaged over
    # time (serve_app.autoscaling_load; HAProxy, the sockets and the client hold the rest of a
    # request's life): ~15 in one saturated replica under 32 one-record clients, so 8 adds the
    # second replica there (docs/reliability.md, scenarios 3 and 3b). At 16, Serve's own count
    # (6-13 for REST, 0-6 for gRPC) never asked for one.
    serve_target_ongoing_requests: float = Field(8, gt=0)
    serve_max_ongoing_requests: int = Field(256, ge=1)
    # Ray's defaults (30 s up, 600 s down, 30 s look-back) react after a short burst is over;
    # these were tuned with benchmarks/reliability.py (docs/reliability.md, scenario 3).
    serve_upscale_delay_s: float = Field(5, ge=0)
    serve_downscale_delay_s: float = Field(30, ge=0)
    serve_look_back_period_s: float = Field(10, gt=0)
    # How soon Serve notices a dead replica and starts another (Ray's default is 10 s).
    serve_health_check_period_s: float = Field(2, gt=0)
    serve_max_records: int = Field(10_000, ge=1)
    # Explaining costs up to ~0.3 s per record for SVR (docs/benchmarks.md): more records than
    # this with explain=true go to batch scoring (--explain) instead of holding a replica.
    serve_max_explain_records: int = Field(100, ge=1)
    # The inference log (serve_app/inference_log.py): the fraction of served predictions kept
    # (0 turns it off) and how often each replica writes what it holds to S3.
    serve_inference_log_fraction: float = Field(1.0, ge=0, le=1)
    serve_inference_log_flush_s: float = Field(5.0, gt=0, le=3600)
    # How often each replica reads the drift job's latest summary from S3 and exports its
    # figures as metrics (serve_app/drift_gauges.py); 0 turns that off.
    serve_drift_poll_s: float = Field(30, ge=0)
    serve_max_body_mb: float = Field(16, gt=0)
    serve_batch_size: int = Field(64, ge=1)
    serve_batch_wait_s: float = Field(0.005, ge=0)
    # Threads a replica's model call may use (OMP_NUM_THREADS in the replica; LightGBM uses them
    # from 512 rows, features/compiled_pipeline.py): Ray's default for a 0.5-CPU actor is 1,
    # which keeps a 10,000-row request on one core (~165 ms of trees instead of ~100 on two).
    serve_model_threads: int = Field(2, ge=1)
    serve_poll_interval_s: float = Field(5, ge=0)
    serve_haproxy: bool = True
    serve_haproxy_stats_port: int = Field(8404, ge=1, le=65535)
    serve_haproxy_metrics_port: int = Field(9101, ge=1, le=65535)
    serve_drain_s: float = Field(3, ge=0)
    # None: Serve places replicas freely; 1 on a multi-node cluster: one replica per node.
    serve_max_replicas_per_node: int | None = Field(None, ge=1)
    serve_replica_base_port: int = Field(30000, ge=1024, le=65435)
    serve_api_token: SecretStr | None = Field(None, min_length=16)
    airflow_port: int = Field(8080, ge=1, le=65535)
    airflow_admin_password: SecretStr | None = None
    airflow_venv: Path = Path(".venv-airflow")

    @model_validator(mode="after")
    def _derive_endpoints(self) -> Settings:
        if not self.s3_endpoint_url:
            self.s3_endpoint_url = f"http://{self.host}:{self.s3_port}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"http://{self.host}:{self.mlflow_port}"
        if not self.ray_address:
            self.ray_address = f"http://{self.host}:{self.ray_dashboard_port}"
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError(
                "set both s3_access_key and s3_secret_key, or neither (credentials from the "
                "environment: instance profile, pod identity)"
            )
        if self.ray_num_cpus == 0 and self.ray_workers == 0:
            raise ValueError(
                "ray_num_cpus is 0 (the head takes no work) and ray_workers is 0: nothing could "
                "run; set BURNOUT_RAY_WORKERS (make up WORKERS=2) or BURNOUT_RAY_NUM_CPUS"
            )
        if self.ray_auth_mode == "token" and not (
            self.ray_auth_token and len(self.ray_auth_token.get_secret_value()) >= 16
        ):
            raise ValueError(
                "ray_auth_token must be set (>= 16 characters) when ray_auth_mode is 'token'"
            )
        self.run_dir = self.run_dir.expanduser().resolve()
        if self.socket_dir is None:
            self.socket_dir = default_socket_dir(self.run_dir)
        self.socket_dir = self.socket_dir.expanduser().resolve()
        self.airflow_venv = self.airflow_venv.expanduser().resolve()
        return self

    @property
    def on_loopback(self) -> bool:
        """Everything binds loopback (the local stack), not a host other machines reach."""
        return self.host in LOOPBACK

    def s3_keys(self) -> tuple[str, str] | None:
        """(access key, secret key) in plain text, None to use the environment's credentials."""
        if self.s3_access_key is None or self.s3_secret_key is None:
            return None
        return self.s3_access_key.get_secret_value(), self.s3_secret_key.get_secret_value()

    def api_token(self) -> str | None:
        """The Serve API token in plain text, or None when the API is open."""
        return self.serve_api_token.get_secret_value() if self.serve_api_token else None

    def ray_auth_headers(self) -> dict[str, str]:
        """HTTP headers for the Ray dashboard / Jobs API."""
        if self.ray_auth_mode == "token" and self.ray_auth_token:
            return {"Authorization": f"Bearer {self.ray_auth_token.get_secret_value()}"}
        return {}

    def ray_env(self) -> dict[str, str]:
        """Environment that Ray processes and clients need to agree on auth."""
        env = {"RAY_AUTH_MODE": self.ray_auth_mode, "RAY_USAGE_STATS_ENABLED": "0"}
        if self.on_loopback:
            # Ray resolves a loopback --node-ip-address to the machine's outward IP and then
            # binds its gRPC servers there or on all interfaces; in single-machine mode it keeps
            # the node, and so every server, on loopback. Ray processes and drivers must agree.
            env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        if self.ray_auth_mode == "token" and self.ray_auth_token:
            env["RAY_AUTH_TOKEN"] = self.ray_auth_token.get_secret_value()
        return env

    def as_env(self) -> dict[str, str]:
        """These settings as BURNOUT_* variables, for child processes (Ray jobs inherit them)."""
        env: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[f"{ENV_PREFIX}{name.upper()}"] = raw
        return env


def default_socket_dir(run_dir: Path) -> Path:
    """/tmp/br-<10 hex of the run folder>: unique per stack, short at any checkout depth."""
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:10]
    return Path("/tmp") / f"br-{digest}"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "settings"
        variable = f"{ENV_PREFIX}{field.upper()}" if item["loc"] else "settings"
        parts.append(f"{variable}: {item['msg']}")
    return "invalid settings: " + "; ".join(parts) + " (see .env.example)"


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, turning validation errors into one ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


@functools.cache
def get_settings() -> Settings:
    """Settings for this process, read once."""
    return load_settings()


def child_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment plus the settings, for subprocesses we start."""
    env = dict(os.environ)
    env.update(settings.as_env())
    env.update(settings.ray_env())
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("DO_NOT_TRACK", "1")
    if extra:
        env.update(extra)
    return env
