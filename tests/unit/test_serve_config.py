"""The Serve config YAML is what `serve deploy` accepts and matches the deploy CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.serve.schema import ServeDeploySchema

from serve_app.deploy import GRPC_SERVICERS

CONFIG = Path(__file__).resolve().parents[2] / "serve_app" / "config.yaml"


def test_serve_config_validates_and_matches_the_cli() -> None:
    config = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    assert config.http_options.host == "127.0.0.1"
    assert config.http_options.port == 8800
    assert config.grpc_options.port == 50051
    assert list(config.grpc_options.grpc_servicer_functions) == GRPC_SERVICERS
    (application,) = config.applications
    assert application.import_path == "serve_app.deployment:app_builder"
    module, attribute = application.import_path.split(":")
    assert callable(getattr(__import__(module, fromlist=[attribute]), attribute))
