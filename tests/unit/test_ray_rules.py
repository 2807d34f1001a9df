"""The knowledge a Ray upgrade can break, checked against the installed Ray (loudly)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from local_stack import loopback
from ray_jobs.core import ray_rules


def test_the_data_context_knobs_exist_and_are_set() -> None:
    from ray.data import DataContext

    context = DataContext.get_current()
    ray_rules.apply_data_context(context)
    assert context.use_datasource_v2 is False
    assert context.enable_arrow_backed_pandas_conversion is False


def test_an_unreachable_s3_is_not_retried_but_throttling_still_is() -> None:
    """Ray's own list minus the connection error: an upgrade that changes the list fails here."""
    from ray.data import DataContext
    from ray.data.context import DEFAULT_RETRIED_IO_ERRORS

    context = DataContext.get_current()
    ray_rules.apply_data_context(context)
    assert "AWS Error NETWORK_CONNECTION" in DEFAULT_RETRIED_IO_ERRORS
    wanted = [e for e in DEFAULT_RETRIED_IO_ERRORS if e != "AWS Error NETWORK_CONNECTION"]
    assert context.retried_io_errors == wanted


def test_a_renamed_knob_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match=r"has no DataContext\.use_datasource_v2"):
        ray_rules.apply_data_context(SimpleNamespace(enable_arrow_backed_pandas_conversion=True))


@pytest.mark.parametrize("module", sorted(loopback.PATCHES))
def test_every_serve_module_the_loopback_patch_rewrites_still_has_its_target(module: str) -> None:
    """The patch only logs a warning at run time; here a changed target fails the suite."""
    loaded = importlib.import_module(module)
    if module.endswith("haproxy"):
        template = loaded.HAPROXY_CONFIG_TEMPLATE
        assert all(wildcard in template for wildcard, _ in loopback._HAPROXY_BINDS), module
    else:
        attribute = {"default_impl": "add_grpc_address", "replica": "add_port_to_grpc_server"}
        assert callable(getattr(loaded, attribute[module.rsplit(".", 1)[1]], None)), module


def test_wildcard_addresses_become_loopback() -> None:
    for address in ("[::]:9500", "0.0.0.0:9500", "*:9500", ":9500"):
        assert loopback.loopback_address(address) == "127.0.0.1:9500"
    assert loopback.loopback_address("10.0.0.5:9500") == "10.0.0.5:9500"


def test_connecting_after_ray_was_imported_without_its_settings_fails_loudly() -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at import: imported too early, a driver on
    the local stack waited minutes for a head on the machine's outward IP."""
    code = (
        "import ray\n"
        "from ray_jobs.core.cluster import connect\n"
        "from ray_jobs.core.settings import load_settings\n"
        "keys = {'s3_access_key': 'k' * 8, 's3_secret_key': 's' * 8, 'ray_auth_token': 't' * 16}\n"
        "connect(load_settings(_env_file=None, **keys))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ray was imported before connect() set" in result.stderr
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" in result.stderr


def test_job_modules_do_not_import_ray_before_connecting() -> None:
    """A job's entry module imported ray at import (a Ray Data datasource at module level):
    every job run by hand with only .env then failed the check above."""
    modules = [
        "ray_jobs.etl.job", "ray_jobs.train.job", "ray_jobs.batch_predict", "ray_jobs.monitor.job",
    ]  # fmt: skip
    code = (
        "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('ray' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.stdout.strip() == "False", result.stdout
