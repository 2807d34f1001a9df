#!/usr/bin/env bash
# `airflow-entrypoint init`: migrate Airflow's database (FAB's user tables included) and give the
# `admin` user the password BURNOUT_AIRFLOW_ADMIN_PASSWORD (airflow/admin_user.py: created the
# first time, set again on every init). Anything else runs `airflow "$@"`.
set -euo pipefail
if [[ "${1:-}" == "init" ]]; then
  : "${BURNOUT_AIRFLOW_ADMIN_PASSWORD:?set BURNOUT_AIRFLOW_ADMIN_PASSWORD (see .env.example)}"
  airflow db migrate
  exec python /opt/airflow/admin_user.py
fi
exec airflow "$@"
