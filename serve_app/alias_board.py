"""Which version each alias was last reloaded to, shared by the replicas of one model.

A reload reaches one replica (the one that answers the request); it publishes here and the other
replicas, checking every BOARD_POLL_S, reload too. A small detached Ray actor named after the
model, removed by `serve_app.deploy down`.
"""

from __future__ import annotations

from typing import Any

BOARD_POLL_S = 0.5  # how soon every replica follows a reload made on another one
BOARD_NAMESPACE = "burnout"


class AliasBoard:
    """A generation counter and the last published version of each alias."""

    def __init__(self) -> None:
        self.generation = 0
        self.versions: dict[str, str] = {}

    def publish(self, versions: dict[str, str]) -> int:
        self.versions.update(versions)
        self.generation += 1
        return self.generation

    def read(self) -> tuple[int, dict[str, str]]:
        return self.generation, dict(self.versions)


def board_name(model_name: str) -> str:
    return f"burnout-alias-board:{model_name}"


def alias_board(model_name: str) -> Any:
    """The board of a model (created by the first replica that asks; it outlives replicas)."""
    import ray

    return (
        ray.remote(AliasBoard)
        .options(
            name=board_name(model_name),
            namespace=BOARD_NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=0,
        )
        .remote()
    )
