"""What counts as a job's CPU work in its placement report (ray_jobs.core.placement)."""

from __future__ import annotations

import pytest

from ray_jobs.core.placement import reserved_cpus

GROUP = "9d440c89a3e7866454477f2e973801000000"


@pytest.mark.parametrize(
    ("resources", "cpus"),
    [
        ({"CPU": 1.0}, 1.0),  # a Ray Data read or transform task
        # A Tune trial actor's creation task, as the state API lists it: its placement group
        # bundle's CPUs, under two names.
        (
            {
                f"bundle_group_0_{GROUP}": 0.001,
                f"CPU_group_0_{GROUP}": 0.5,
                f"bundle_group_{GROUP}": 0.001,
                f"CPU_group_{GROUP}": 0.5,
            },
            0.5,
        ),
        ({}, 0.0),  # a method call on an actor
        (None, 0.0),
        ({"memory": 1e9, f"bundle_group_{GROUP}": 0.001}, 0.0),
    ],
)
def test_cpus_reserved_directly_or_through_a_placement_group(
    resources: dict[str, float] | None, cpus: float
) -> None:
    assert reserved_cpus(resources) == cpus
