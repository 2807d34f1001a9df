"""The registry's side of the API: versions, aliases and model cards (a mixin of the deployment,
which provides `_registry`, an MlflowClient, `model_name` and `_cards`)."""

from __future__ import annotations

from typing import Any

from ray_jobs.core.errors import NotFound


class ModelCatalog:
    """What REST, GraphQL and gRPC list and describe; cards never change, so they are cached."""

    _registry: Any
    model_name: str
    _cards: dict[str, str]  # version -> Markdown, set empty by the deployment

    def list_models(self) -> list[dict[str, Any]]:
        from ray_jobs.core.registry import describe_versions

        return describe_versions(self._registry, self.model_name)

    def get_model(self, alias: str) -> dict[str, Any]:
        from ray_jobs.core.registry import describe_alias

        described = describe_alias(self._registry, self.model_name, alias)
        if described is None:
            raise NotFound(f"model alias '{alias}' does not exist for '{self.model_name}'")
        return described

    def get_card(self, alias: str) -> dict[str, str]:
        """The model card of the version behind an alias (cards never change: cached)."""
        from ray_jobs.core.registry import alias_version

        version = alias_version(self._registry, self.model_name, alias)
        if version is None:
            raise NotFound(f"model alias '{alias}' does not exist for '{self.model_name}'")
        return {"alias": alias, **self.card_of_version(str(version.version))}

    def card_of_version(self, version: str) -> dict[str, str]:
        from ray_jobs.core.registry import model_card

        if version not in self._cards:
            self._cards[version] = model_card(self._registry, self.model_name, version)
        return {"name": self.model_name, "version": version, "markdown": self._cards[version]}
