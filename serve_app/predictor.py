"""The one prediction path behind REST, GraphQL and gRPC: validate, load by alias, predict.

Models are loaded from the MLflow registry by alias through an injected loader (tests hand in
their own), cached per alias, and swapped atomically on reload so in-flight requests finish on
the model they started with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.compiled_pipeline import Predict, verified
from features.risk import clip_burn_rate, risk_level
from features.schema import FEATURE_NAMES
from features.validation import validate
from ray_jobs.core.errors import InvalidInput, ModelUnavailable, NotFound, TooLarge

log = logging.getLogger(__name__)

# Raw input rows: wire records, or the columns of a columnar body (serve_app.columnar.decode).
Records = list[dict[str, Any]] | pd.DataFrame
BULK_ROWS = 64  # requests with more rows are a batch already: predict them directly, as a frame


@dataclass(frozen=True)
class LoadedModel:
    """A model pipeline and the registry coordinates it came from."""

    name: str
    alias: str
    version: str
    run_id: str
    model: Any
    loaded_at: float = field(default_factory=time.time)
    # What serving calls: the compiled pipeline when it reproduces `model.predict` exactly.
    predict: Predict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "predict", verified(self.model))

    def ref(self) -> dict[str, str]:
        return {"name": self.name, "alias": self.alias, "version": self.version}


Loader = Callable[[str], LoadedModel]


def registry_loader(tracking_uri: str, model_name: str) -> Loader:
    """Load `models:/<name>/<version>` for an alias from the MLflow registry."""

    def load(alias: str) -> LoadedModel:
        import mlflow

        from ray_jobs.core.registry import alias_version, describe_versions, load_version

        client = mlflow.MlflowClient(tracking_uri)
        version = alias_version(client, model_name, alias)
        if version is None:
            if not describe_versions(client, model_name):
                raise ModelUnavailable(
                    f"no model is registered as '{model_name}' yet: run training "
                    "(`make train` or `python -m ray_jobs.train`)"
                )
            raise NotFound(f"model alias '{alias}' does not exist for '{model_name}'")
        model = load_version(model_name, str(version.version), tracking_uri)
        return LoadedModel(model_name, alias, str(version.version), version.run_id or "", model)

    return load


class PredictionService:
    """Validation, model cache and prediction: everything the three protocols share."""

    def __init__(
        self,
        loader: Loader,
        default_alias: str,
        max_records: int,
        max_explain_records: int = 100,
    ) -> None:
        self._loader = loader
        self.default_alias = default_alias
        self.max_records = max_records
        self.max_explain_records = max_explain_records
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    # -- models ---------------------------------------------------------------------------------

    def model(self, alias: str | None = None) -> LoadedModel:
        """The cached model for an alias, loading it on first use."""
        alias = alias or self.default_alias
        cached = self._models.get(alias)
        if cached is not None:
            return cached
        with self._lock:
            if alias not in self._models:
                self._models[alias] = self._loader(alias)
                log.info(
                    "loaded %s@%s v%s", self._models[alias].name, alias, self._models[alias].version
                )
            return self._models[alias]

    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._models)

    def reload(self, aliases: list[str] | None = None) -> dict[str, str]:
        """Reload aliases (all cached ones plus the default); swap each only once loaded."""
        targets = aliases or sorted({*self._models, self.default_alias})
        versions: dict[str, str] = {}
        for alias in targets:
            fresh = self._loader(alias)
            with self._lock:
                self._models[alias] = fresh
            versions[alias] = fresh.version
        return versions

    def try_load_default(self) -> None:
        """Warm the default alias at start-up; a missing model is not fatal (503 until trained)."""
        try:
            self.model()
        except (ModelUnavailable, NotFound) as error:
            log.warning("no model loaded yet: %s", error)

    # -- records --------------------------------------------------------------------------------

    def check_explain_size(self, records: list[dict[str, Any]]) -> None:
        if len(records) > self.max_explain_records:
            raise TooLarge(
                f"{len(records)} records with explain=true; the limit is "
                f"{self.max_explain_records} (BURNOUT_SERVE_MAX_EXPLAIN_RECORDS); use batch "
                "scoring with --explain for more"
            )

    def check_size(self, records: Records) -> None:
        if len(records) > self.max_records:
            raise TooLarge(
                f"{len(records)} records in one request; the limit is {self.max_records} "
                "(BURNOUT_SERVE_MAX_RECORDS); use POST /predict/stream or the batch scoring job"
            )

    def frame(self, records: Records, prefix: str = "records") -> pd.DataFrame:
        """Validate raw records with the features rules; InvalidInput names every bad field."""
        self.check_size(records)
        clean, errors = _check(records)
        if errors:
            raise InvalidInput(_located(errors, 0, len(records), prefix))
        return clean

    def predict_frame(
        self, frame: pd.DataFrame, model: LoadedModel, explain: bool = False
    ) -> list[dict[str, Any]]:
        """Burn rate (clipped) and risk level per validated row; with `explain`, each raw
        feature's contribution too (features.explain)."""
        features = frame[list(FEATURE_NAMES)]
        rates = clip_burn_rate(model.predict(features))
        levels = risk_level(rates)
        ids = frame["employee_id"].tolist()
        ref = model.ref()
        predictions = [
            {"employee_id": i, "burn_rate": float(r), "risk_level": str(level), "model": ref}
            for i, r, level in zip(ids, rates, levels, strict=True)
        ]
        if explain:
            from features.explain import explain as explain_rows

            explained = explain_rows(model.model, features)
            for prediction, why in zip(predictions, explained, strict=True):
                prediction["explanation"] = why.as_dict()
        return predictions

    def predict_many(
        self, requests: list[tuple[list[dict[str, Any]], LoadedModel]]
    ) -> list[list[dict[str, Any]] | InvalidInput]:
        """Many requests at once: one DataFrame, one validation and one predict per model.

        Validation costs as much as prediction (~10 ms, nearly flat in rows), so it is batched
        too. A request with a bad record gets its own InvalidInput; the others are unaffected.
        """
        clean, errors = _check([r for records, _ in requests for r in records])
        results: list[list[dict[str, Any]] | InvalidInput] = [[] for _ in requests]
        by_model: dict[int, list[tuple[int, int, int]]] = {}
        start = 0
        for index, (records, model) in enumerate(requests):
            end = start + len(records)
            mine = _located(errors, start, end, "records")
            if mine:
                results[index] = InvalidInput(mine)
            else:
                by_model.setdefault(id(model), []).append((index, start, end))
            start = end
        for spans in by_model.values():
            model = requests[spans[0][0]][1]
            rows = np.concatenate([np.arange(a, b) for _, a, b in spans])
            predictions = self.predict_frame(clean.iloc[rows], model)
            offset = 0
            for index, a, b in spans:
                results[index] = predictions[offset : offset + b - a]
                offset += b - a
        return results

    def predict(
        self, records: list[dict[str, Any]], alias: str | None = None, explain: bool = False
    ) -> list[dict[str, Any]]:
        """Validate and predict in one call (no batching across requests)."""
        if explain:
            self.check_explain_size(records)
        frame = self.frame(records)
        return self.predict_frame(frame, self.model(alias), explain)


def _check(records: Records) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Cleaned frame and (row, field, message) for every rule a record breaks."""
    if isinstance(records, pd.DataFrame):
        raw = records.reset_index(drop=True)  # errors are numbered by position
    else:
        raw = pd.DataFrame.from_records(records, columns=list(FEATURE_NAMES)).astype(object)
    checked = validate(raw, require_target=False, require_id=False)
    errors: list[tuple[int, str, str]] = []
    if not checked.valid.all():
        for row, column in zip(*np.where(checked.errors.notna().to_numpy()), strict=True):
            errors.append(
                (int(row), checked.errors.columns[column], str(checked.errors.iat[row, column]))
            )
    return checked.clean, errors


def _located(
    errors: list[tuple[int, str, str]], start: int, end: int, prefix: str
) -> list[dict[str, Any]]:
    """The errors of rows start..end, numbered from 0 within that request."""
    return [
        {"field": f"{prefix}[{row - start}].{name}", "loc": [prefix, row - start, name],
         "message": message}
        for row, name, message in errors
        if start <= row < end
    ]  # fmt: skip
