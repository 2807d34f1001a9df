# The project image: Ray head and workers, MLflow, and the one-shot jobs of docker-compose.yaml;
# also the image of the KubeRay manifests and of cluster.yaml's nodes. Installs the runtime lock
# (requirements/lock.txt: no test or lint tools) and the project, gRPC stubs generated here.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=1

# ssh and rsync: the Ray cluster launcher's autoscaler, inside the head's container, reaches the
# worker nodes with them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client rsync \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 1000 burnout
WORKDIR /app

# Dependencies first: the layer survives code changes.
COPY requirements/lock.txt requirements/postgres.txt requirements/
# Bytecode compiled here: PYTHONDONTWRITEBYTECODE means no process ever caches it at run time.
RUN uv pip install --system --no-cache --compile-bytecode -r requirements/lock.txt -r requirements/postgres.txt

COPY pyproject.toml setup.py README.md ./
COPY features features
COPY ray_jobs ray_jobs
COPY serve_app serve_app
COPY configs configs
# Building the project generates the gRPC stubs (setup.py); they are never committed.
RUN uv pip install --system --no-cache --no-deps -e .

USER burnout
