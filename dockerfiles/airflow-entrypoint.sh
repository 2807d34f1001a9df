#!/usr/bin/env bash
# Airflow's SimpleAuthManager reads the admin password from a file: write it from the environment
# (never baked into the image), then run `airflow "$@"`.
set -euo pipefail
: "${BURNOUT_AIRFLOW_ADMIN_PASSWORD:?set BURNOUT_AIRFLOW_ADMIN_PASSWORD (see .env.example)}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
umask 077
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w", encoding="utf-8") as handle:
    json.dump({"admin": os.environ["BURNOUT_AIRFLOW_ADMIN_PASSWORD"]}, handle)
PY
exec airflow "$@"
