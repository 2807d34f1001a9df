# Airflow 3 (api-server, scheduler, dag-processor) with this project's DAGs. Same lock as the local
# .venv-airflow; the project is installed without dependencies (DAG helpers reach Ray over HTTP).
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    DO_NOT_TRACK=1

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 50000 airflow \
    && mkdir -p /opt/airflow/logs \
    && chown -R airflow /opt/airflow
WORKDIR /app

COPY requirements/airflow-lock.txt requirements/postgres.txt requirements/
# Bytecode compiled here: PYTHONDONTWRITEBYTECODE means no process ever caches it at run time.
RUN uv pip install --system --no-cache --compile-bytecode -r requirements/airflow-lock.txt -r requirements/postgres.txt

COPY pyproject.toml README.md ./
COPY features features
COPY ray_jobs ray_jobs
COPY serve_app serve_app
RUN uv pip install --system --no-cache --no-deps -e .
COPY airflow/dags /opt/airflow/dags
COPY airflow/admin_user.py /opt/airflow/admin_user.py
COPY dockerfiles/airflow-entrypoint.sh /usr/local/bin/airflow-entrypoint

USER airflow
ENTRYPOINT ["airflow-entrypoint"]
CMD ["version"]
