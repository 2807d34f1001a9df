"""configs/train.yaml is checked before any compute: one line naming the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ray_jobs.core.errors import ConfigError
from ray_jobs.train.config import DEFAULT_CONFIG, load_config


def _write(tmp_path: Path, change: object) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    change(config)  # type: ignore[operator]
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_config_loads_with_overrides() -> None:
    config = load_config(DEFAULT_CONFIG, 3, ["knn"])
    assert list(config["families"]) == ["knn"]
    assert config["families"]["knn"]["num_samples"] == 3
    assert config["families"]["knn"]["space"]["weights"]["choices"] == ["uniform", "distance"]
    n_estimators = load_config(DEFAULT_CONFIG, None, None)["families"]["lightgbm"]["space"]
    assert isinstance(n_estimators["n_estimators"]["low"], int)  # suggest_int needs ints


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["families"]["svm"]["space"]["C"].pop("high"), "families.svm.space.C"),
        (lambda c: c["families"]["knn"].pop("num_samples"), "families.knn.num_samples"),
        (lambda c: c.pop("seed"), "seed: Field required"),
        (lambda c: c["families"]["lightgbm"].update(num_sample=3), "lightgbm.num_sample"),
        (lambda c: c["families"].update(xgboost=c["families"]["knn"]), "unknown families"),
        (lambda c: c.update(cpus_per_trial=0), "cpus_per_trial"),
    ],
)
def test_a_bad_key_fails_with_one_line_naming_it(
    tmp_path: Path, change: object, named: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        load_config(_write(tmp_path, change), None, None)
    assert named in str(failure.value) and "\n" not in str(failure.value)
