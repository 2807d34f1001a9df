# burnout-ray: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
AIRFLOW_VENV := .venv-airflow
UV := $(VENV)/bin/uv
BURNOUT := $(VENV)/bin/burnout
UV_VERSION := 0.13.9
DEMO_ROWS ?= 20000
DEMO_TRIALS ?= 4
PYTEST_ARGS ?=
# `make up WORKERS=2 HEAD_CPUS=0`: two extra Ray worker nodes on this machine, none of the work on
# the head (BURNOUT_RAY_WORKERS / BURNOUT_RAY_NUM_CPUS in .env do the same for every command).
WORKERS ?=
HEAD_CPUS ?=
NODES_ENV := $(if $(WORKERS),BURNOUT_RAY_WORKERS=$(WORKERS)) $(if $(HEAD_CPUS),BURNOUT_RAY_NUM_CPUS=$(HEAD_CPUS))
PROTOS := $(wildcard serve_app/protos/*.proto)

.PHONY: help install airflow-install airflow up down status demo data etl train serve reliability test test-unit test-integration lint format lock clean reset

help: ## Show this help
	@grep -hE '^[a-zA-Z_.-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

# .venv gets the dev lock (the runtime lock plus test and lint tools); images and cluster nodes
# install requirements/lock.txt only. Building the project (setup.py) generates the gRPC stubs,
# so a changed .proto reinstalls it.
# --compile-bytecode: uv writes no .pyc by default, and with PYTHONDONTWRITEBYTECODE set (as in
# our images and many CI shells) Python never caches them either: every driver, Ray worker and
# Airflow process then compiles Ray, MLflow and scikit-learn from source (~5 s of CPU each).
$(VENV)/.installed: pyproject.toml setup.py requirements/lock.txt requirements/dev-lock.txt $(PROTOS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements/dev-lock.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --reinstall-package burnout-ray --refresh-package burnout-ray -e .
	touch $@

install: $(VENV)/.installed ## Create .venv, install the locked dependencies and this project (`burnout` CLI)

# Airflow gets its own virtualenv (its pins clash with ray[serve]'s); the project is installed
# without dependencies so DAG helpers can use ray_jobs.submit, which needs no ray.
$(AIRFLOW_VENV)/.installed: requirements/airflow-lock.txt pyproject.toml $(VENV)/.installed
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(AIRFLOW_VENV)/bin/python -r requirements/airflow-lock.txt
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python --no-deps -e .
	touch $@

airflow-install: $(AIRFLOW_VENV)/.installed ## Create .venv-airflow with the locked Airflow 3

airflow: up airflow-install ## Start Airflow (api-server, scheduler, dag-processor) on 127.0.0.1:8080 with this project's DAGs
	$(BURNOUT) up --only airflow
	@echo "Airflow UI: http://127.0.0.1:$${BURNOUT_AIRFLOW_PORT:-8080} (user admin, password BURNOUT_AIRFLOW_ADMIN_PASSWORD in .env)"

# A new .env gets every setting with fresh secrets; an existing one keeps its values and only
# gains the settings added to .env.example since it was written.
.env: .env.example
	@$(PYTHON) -c 'import os, re, secrets; \
		fill = lambda text: re.sub("__generate__", lambda m: secrets.token_urlsafe(24), text); \
		example = open(".env.example").read(); \
		have = open(".env").read() if os.path.exists(".env") else None; \
		keys = set(re.findall(r"^(\w+)=", have or "", re.M)); \
		new = [l for l in example.splitlines() if re.match(r"^\w+=", l) and l.split("=")[0] not in keys]; \
		open(".env", "w").write(fill(example) if have is None else have.rstrip("\n") + "\n" + fill("\n".join(new)) + "\n"); \
		print("wrote .env with fresh random secrets" if have is None else "added to .env: " + (", ".join(l.split("=")[0] for l in new) or "nothing"))'
	@chmod 600 .env

up: install .env ## Start the local stack (S3, MLflow, Ray head [+ WORKERS=N nodes]); idempotent
	$(NODES_ENV) $(BURNOUT) up

down: ## Stop the local stack and Airflow (data stays in .run/)
	@test -x $(BURNOUT) && $(BURNOUT) down || true

status: install .env ## Show each local service: URL, health, processes and memory
	$(BURNOUT) status

data: up ## Upload DEMO_ROWS synthetic rows to s3://data/raw/demo/
	$(BURNOUT) ingest synthetic --rows $(DEMO_ROWS) --seed 42 --name demo

etl: up ## Run the ETL on s3://data/raw/demo/ as a Ray job (Jobs API)
	$(BURNOUT) etl --input s3://data/raw/demo/

train: up ## Tune LightGBM, KNN and SVM on the latest dataset version (Ray job); TRIALS=N overrides
	$(BURNOUT) train $(if $(TRIALS),--trials $(TRIALS),)

serve: up ## Deploy the Serve app (REST+GraphQL :8800, gRPC :50051) with the champion model
	$(BURNOUT) serve up

demo: up airflow-install ## Start everything, let Airflow run the pipeline on demo data, call all APIs
	$(BURNOUT) demo --rows $(DEMO_ROWS) --trials $(DEMO_TRIALS)

reliability: up ## Load with a model swap, a killed replica and autoscaling (REST, gRPC) -> docs/reliability.md (~7 min)
	$(PY) -m benchmarks.reliability

test: install airflow-install lint ## Install and run the whole test suite (starts the services it needs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no services)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install ## Integration tests (real S3, MLflow, Ray on free ports)
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock: install ## Re-resolve requirements/lock.txt (runtime), dev-lock.txt (+ test/lint) and airflow-lock.txt
	$(UV) pip compile pyproject.toml --python-version 3.11 --no-header --quiet -o requirements/lock.txt
	$(UV) pip compile pyproject.toml --extra dev -c requirements/lock.txt --python-version 3.11 --no-header --quiet -o requirements/dev-lock.txt
	$(UV) pip compile requirements/airflow.in --python-version 3.11 --no-header --quiet -o requirements/airflow-lock.txt

clean: ## Remove caches (keeps .venv, .env and local data)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

reset: down ## Stop the stack and delete all local data in .run/
	rm -rf .run
