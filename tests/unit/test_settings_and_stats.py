"""Settings validation and the merge of per-batch dataset statistics."""

from __future__ import annotations

import pandas as pd
import pytest

from features.schema import NAMES
from ray_jobs.core.errors import ConfigError
from ray_jobs.core.settings import load_settings
from ray_jobs.etl import stats as dataset_stats

KEYS = {"s3_access_key": "abcd", "s3_secret_key": "secret-123", "ray_auth_token": "t" * 24}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BURNOUT_"):
            monkeypatch.delenv(name)


def test_without_s3_keys_the_environments_credentials_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No static keys (a cluster whose nodes have an instance profile or pod identity): boto3 and
    pyarrow take the environment's credentials; one key without the other is refused; the local
    stack, whose S3 server is configured with keys, says which variables it needs."""
    from local_stack.services import local_s3_keys
    from ray_jobs.core import s3

    settings = load_settings(_env_file=None, ray_auth_token="t" * 24)
    assert settings.s3_keys() is None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    credentials = s3.client(settings)._request_signer._credentials
    assert credentials.access_key == "from-the-environment"
    assert s3.arrow_fs(settings).region == settings.s3_region
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, s3_access_key="abcd", ray_auth_token="t" * 24)
    assert "both s3_access_key and s3_secret_key, or neither" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="BURNOUT_S3_ACCESS_KEY and BURNOUT_S3_SECRET_KEY"):
        local_s3_keys(settings)
    keyed = load_settings(_env_file=None, **KEYS)
    assert local_s3_keys(keyed) == ("abcd", "secret-123")
    assert s3.client(keyed)._request_signer._credentials.access_key == "abcd"


def test_token_mode_requires_a_token() -> None:
    with pytest.raises(ConfigError, match="ray_auth_token"):
        load_settings(_env_file=None, s3_access_key="abcd", s3_secret_key="secret-123")
    settings = load_settings(
        _env_file=None,
        ray_auth_mode="disabled",
        **{k: v for k, v in KEYS.items() if k != "ray_auth_token"},
    )
    assert settings.ray_auth_headers() == {}


def test_bad_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURNOUT_S3_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="BURNOUT_S3_PORT"):
        load_settings(_env_file=None, **KEYS)


def test_endpoints_derive_from_host_and_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURNOUT_MLFLOW_PORT", "5999")
    settings = load_settings(_env_file=None, **KEYS)
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5999"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.ray_auth_headers() == {"Authorization": "Bearer " + "t" * 24}
    env = settings.as_env()
    assert env["BURNOUT_S3_SECRET_KEY"] == "secret-123"
    assert "secret-123" not in repr(settings)


def frame(values: list[float | None]) -> pd.DataFrame:
    data = {name: [None] * len(values) for name in NAMES}
    data["burn_rate"] = values
    data["gender"] = ["Male"] * len(values)
    return pd.DataFrame(data)


def test_stats_merge_matches_a_single_pass() -> None:
    a = dataset_stats.partial(
        {"train": frame([0.1, 0.2]), "test": frame([0.9])},
        pd.Series(["Gender: 'x' is not one of Male, Female"]),
        rows_in=4,
    )
    b = dataset_stats.partial(
        {"train": frame([0.3, None])},
        pd.Series(["Gender: 'y' is not one of Male, Female", "Designation: missing"]),
        rows_in=4,
    )
    merged = dataset_stats.merge([a, b])
    assert merged["rows_in"] == 8 and merged["rows_out"] == 5 and merged["rows_rejected"] == 3
    assert merged["rejected_by_reason"]["Gender: <value> is not one of Male, Female"] == 2
    burn = merged["all"]["numeric"]["burn_rate"]
    expected = pd.Series([0.1, 0.2, 0.9, 0.3])
    assert burn["mean"] == pytest.approx(expected.mean())
    assert burn["std"] == pytest.approx(expected.std())
    assert burn["min"] == 0.1 and burn["max"] == 0.9
    assert merged["splits"]["train"]["missing"]["burn_rate"] == 1
    assert merged["all"]["categories"]["gender"] == {"Male": 5}
