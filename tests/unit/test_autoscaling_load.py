"""The load the autoscaler sees: in-flight requests averaged over time, and the policy on it."""

from __future__ import annotations

from typing import Any

import cloudpickle
from ray.serve._private.common import DeploymentID, ReplicaID
from ray.serve.config import AutoscalingConfig, AutoscalingContext, AutoscalingPolicy

from ray_jobs.core.settings import Settings
from serve_app.autoscaling_load import IN_FLIGHT, POLICY, InFlight, in_flight_policy
from serve_app.options import autoscaling

DEPLOYMENT = DeploymentID(name="BurnoutService", app_name="burnout")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_mean_weighs_each_count_by_how_long_it_lasted() -> None:
    clock = Clock()
    in_flight = InFlight(clock)
    in_flight.enter()  # 1 request from 0 to 1 s
    clock.now = 1.0
    in_flight.enter()  # 2 from 1 to 3 s
    clock.now = 3.0
    in_flight.leave()  # 1 from 3 to 4 s
    clock.now = 4.0
    assert in_flight.mean() == (1 * 1 + 2 * 2 + 1 * 1) / 4
    clock.now = 6.0  # the next reading starts where the last one ended
    assert in_flight.mean() == 1.0
    in_flight.leave()
    assert in_flight.mean() == 0.0  # no time passed: the current count


def test_the_exported_area_keeps_counting_across_readings() -> None:
    """The metrics thread exports request-seconds; Serve's readings must not reset them."""
    clock = Clock()
    in_flight = InFlight(clock)
    for _ in range(3):
        in_flight.enter()
    clock.now = 2.0
    assert in_flight.mean() == 3.0
    assert in_flight.area() == 6.0
    clock.now = 3.0
    in_flight.leave()
    clock.now = 4.0
    assert in_flight.area() == 6.0 + 3.0 + 2.0
    assert in_flight.mean() == (3.0 + 2.0) / 2  # since the previous reading, not since 0


def test_a_burst_between_readings_is_not_missed() -> None:
    """What Serve's sampled count misses: requests that come and go between two samples."""
    clock = Clock()
    in_flight = InFlight(clock)
    for start in range(10):  # 20 requests in flight for 90 ms of every 100 ms
        clock.now = start / 10
        for _ in range(20):
            in_flight.enter()
        clock.now = start / 10 + 0.09
        for _ in range(20):
            in_flight.leave()
    clock.now = 1.0
    assert abs(in_flight.mean() - 18.0) < 1e-9


def context(
    replicas: list[ReplicaID], in_flight: dict[ReplicaID, float], serve_count: float
) -> Any:
    config = AutoscalingConfig(min_replicas=1, max_replicas=4, target_ongoing_requests=8)
    return AutoscalingContext(
        deployment_id=DEPLOYMENT,
        deployment_name=DEPLOYMENT.name,
        app_name=DEPLOYMENT.app_name,
        current_num_replicas=len(replicas),
        target_num_replicas=len(replicas),
        running_replicas=replicas,
        total_num_requests=serve_count,
        total_queued_requests=0.0,
        aggregated_metrics={IN_FLIGHT: in_flight},
        raw_metrics=None,
        capacity_adjusted_min_replicas=1,
        capacity_adjusted_max_replicas=4,
        policy_state={},
        last_scale_up_time=None,
        last_scale_down_time=None,
        current_time=None,
        config=config,
    )


def test_the_policy_scales_on_the_larger_of_in_flight_and_serves_count() -> None:
    one, two, gone = (ReplicaID(unique_id=u, deployment_id=DEPLOYMENT) for u in "abc")
    # gRPC load: Serve counted 3, the replica held 20 on average -> 2.5 replicas' worth.
    assert in_flight_policy(context([one], {one: 20.0}, 3.0)) == (2.5, {})
    # Serve's count wins when it is the larger one (requests queued before the replica).
    assert in_flight_policy(context([one], {one: 4.0}, 12.0)) == (1.5, {})
    # A replica that is no longer running does not count.
    assert in_flight_policy(context([one, two], {one: 4.0, two: 4.0, gone: 40.0}, 0.0))[0] == 1.0
    # No reports yet: Serve's count alone.
    assert in_flight_policy(context([one], {}, 16.0))[0] == 2.0


def test_the_deployment_uses_the_policy_and_serve_can_load_it() -> None:
    # No .env needed (a fresh clone has none): Ray auth plays no part here.
    config = AutoscalingConfig(**autoscaling(Settings(ray_auth_mode="disabled")))
    assert config.policy.policy_function == POLICY
    # Serve pickles the policy by value for its controller; it must come back whole.
    serialized = AutoscalingPolicy(policy_function=POLICY).get_serialized_policy_def()
    policy = cloudpickle.loads(serialized)
    one = ReplicaID(unique_id="a", deployment_id=DEPLOYMENT)
    assert policy(context([one], {one: 24.0}, 0.0)) == (3.0, {})
