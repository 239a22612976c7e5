"""Capacity-plan arithmetic on hand-made figures: Little's law, the per-pod rate at the HPA
target, the recommendations, and the HPA algorithm's prediction of a load step."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest

from loadtests.capacity import (
    DEFAULT_VALUES,
    Chart,
    Figures,
    Level,
    chart_values,
    cpu_cores,
    littles_law,
    memory_mib,
    plan,
    pod_rps_at,
    render,
)
from loadtests.hpa_model import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HpaSpec,
    recommend,
    scale_limit,
    scale_up_steps,
    simulate,
)

CHART = Chart.from_values(chart_values(DEFAULT_VALUES))


def level(share: float, p95: float, mean: float = 4.0) -> Level:
    rate = share / 0.0024
    return Level(share, rate, rate, share, 2.0, p95, 2 * p95, mean)


# 2.4 CPU ms per request: 400 req/s at 0.96 cores; p95 within 50 ms up to 65 % of a core.
FIGURES = Figures(
    machine="hand-made",
    saturated_rps=400.0,
    saturated_cpu_cores=0.96,
    cpu_s_per_request=0.0024,
    levels=(level(0.3, 10), level(0.5, 12), level(0.65, 20, 5.0), level(0.8, 60), level(0.9, 200)),
    rss_mib=500.0,
    generator_busiest_percent=40.0,
)


@pytest.mark.parametrize(
    ("text", "cores"), [("500m", 0.5), ("1", 1.0), ("2", 2.0), (1, 1.0), ("250m", 0.25)]
)
def test_cpu_quantities(text: str | int, cores: float) -> None:
    assert cpu_cores(text) == cores


@pytest.mark.parametrize(
    ("text", "mib"), [("1Gi", 1024), ("512Mi", 512), ("2048Ki", 2), ("1G", 1e9 / 2**20)]
)
def test_memory_quantities(text: str, mib: float) -> None:
    assert memory_mib(text) == pytest.approx(mib)


def test_the_chart_preset_is_read_merged_with_the_defaults() -> None:
    assert (CHART.workers, CHART.torch_threads) == (1, 1)
    assert (CHART.cpu_request, CHART.cpu_limit, CHART.memory_request_mib) == (1.0, 2.0, 1024)
    hpa = CHART.hpa
    assert (hpa.min_replicas, hpa.max_replicas, hpa.cpu_target_percent) == (3, 20, 65)
    assert hpa.scale_down.stabilization_s == 300  # from values.yaml, under the preset


def test_littles_law() -> None:
    assert littles_law(270.0, 4.0) == pytest.approx(1.08)
    assert littles_law(5000.0, 5.0) == pytest.approx(25.0)


def test_per_pod_rate_at_the_target() -> None:
    # 65 % of 1 core = 0.65 CPU s per s; 2.4 ms each: 270.8 req/s
    assert pod_rps_at(FIGURES, 1.0, 65) == pytest.approx(0.65 / 0.0024)
    assert pod_rps_at(FIGURES, 0.5, 65) == pytest.approx(0.325 / 0.0024)


def test_the_plan_on_hand_made_figures() -> None:
    p = plan(FIGURES, CHART, peak_rps=5000, base_rps=500, p95_ms=50, surge=0.5)
    assert p.pod_rps_at_target == pytest.approx(270.83, rel=1e-3)
    assert p.replicas_for_peak == math.ceil(5000 / 270.83)  # 19
    assert p.in_flight_per_pod == pytest.approx(270.83 * 0.005, rel=1e-3)  # W = 5 ms at 65 %
    assert p.in_flight_at_peak == pytest.approx(25.0)
    assert p.p95_at_target_ms == 20
    # p95 holds up to 65 %; a 50 % surge on running pods needs <= 96/1.5 = 64 %: 65 rounded
    assert p.target_percent == 65
    assert p.min_replicas == 3  # ceil(500/270.8) = 2, at least 2, + 1 for a drain
    assert p.max_replicas == 20  # 19 for the peak, + 1
    assert p.cpu_request == 1.0
    assert (p.memory_request_mib, p.memory_limit_mib) == (768, 1536)  # 1.5 x 500 -> 768


def test_the_per_pod_rate_uses_the_cost_measured_near_the_target() -> None:
    # paced clients cost more per request than the closed loop: 250 req/s took 0.75 cores
    near = Level(0.65, 270.8, 250.0, 0.75, 2.0, 20.0, 40.0, 5.0)
    figures = dataclasses.replace(FIGURES, levels=(*FIGURES.levels[:2], near, *FIGURES.levels[3:]))
    p = plan(figures, CHART, peak_rps=5000, base_rps=500, p95_ms=50)
    assert p.pod_rps_at_target == pytest.approx(0.65 * 250 / 0.75)


def test_a_tighter_objective_lowers_the_target() -> None:
    assert plan(FIGURES, CHART, peak_rps=5000, base_rps=500, p95_ms=11).target_percent == 30
    assert (
        plan(FIGURES, CHART, peak_rps=5000, base_rps=500, p95_ms=50, surge=1.0).target_percent == 50
    )


def test_the_step_prediction_follows_the_documented_algorithm() -> None:
    # 500 -> 5000 req/s at t=60 s, 3 pods, 270.8 req/s per pod at 65 %. Sync every 15 s, the
    # metric 60 s late, pods ready 30 s after creation. The HPA sees the step at 120 s and
    # wants 19; the policies (max of +100 % and +4 per 30 s) allow 7, then 14 at 150 s, 19 at
    # 180 s; the 19th pod is ready at 210 s: absorbed 150 s after the step.
    p = plan(FIGURES, CHART, peak_rps=5000, base_rps=500, p95_ms=50)
    assert p.absorb_s == 150
    assert p.absorb_peak_utilisation == pytest.approx(100 * 5000 / (3 * 270.83 / 0.65), rel=1e-3)


def test_recommend_tolerance_and_unready_pods() -> None:
    spec = HpaSpec(3, 20, 65)
    assert recommend(spec, 3, 0, 70) == 3  # 70/65 = 1.077: within 10 %
    assert recommend(spec, 3, 0, 130) == 6
    assert recommend(spec, 3, 0, 20) == 1  # min/max apply after stabilisation, not here
    assert recommend(spec, 3, 2, 80) == 5  # unready at 0 %: 80 x 3 / (65 x 5) = 0.74, hold


def test_policies() -> None:
    chart = CHART.hpa
    assert scale_limit(chart.scale_up, 3, up=True) == 7  # max(ceil(3 x 2), 3 + 4)
    assert scale_limit(chart.scale_down, 5, up=False) == 2  # floor(5 x 0.5)
    assert scale_up_steps(chart, 3, 5) == 1
    assert scale_up_steps(chart, 3, 20) == 3  # 7, 14, 20
    assert scale_up_steps(chart, 3, 40) == 3  # stops at maxReplicas


def test_kubernetes_defaults_without_behavior() -> None:
    spec = HpaSpec.from_object({"spec": {"maxReplicas": 5}})
    assert (spec.min_replicas, spec.cpu_target_percent) == (1, None)
    assert (spec.scale_up, spec.scale_down) == (DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)


def test_scale_down_waits_for_its_window() -> None:
    spec = HpaSpec(2, 10, 50)
    sim = simulate(spec, lambda t: 400 if t < 300 else 100, 100, start_replicas=8,
                   seconds=900, sync_s=15, metrics_delay_s=0, pod_start_s=0)  # fmt: skip
    first_fall = next(s.t_s for s in sim.steps if s.desired < 8)
    assert first_fall == 300 + 300  # the highest recommendation of the last 300 s


def test_render_names_every_value(tmp_path: Path) -> None:
    p = plan(FIGURES, CHART, peak_rps=5000, base_rps=500, p95_ms=50)
    args = argparse.Namespace(values=DEFAULT_VALUES, peak_rps=5000, base_rps=500,
                              memory_target=80)  # fmt: skip
    text = render(FIGURES, CHART, p, args)
    for value in ("targetCPUUtilizationPercentage", "minReplicas", "maxReplicas",
                  "resources.requests.cpu", "resources.requests.memory"):  # fmt: skip
        assert f"| {value} |" in text
    assert "49 % of the chart's request" in text  # 500 MiB of 1 GiB


def test_a_late_metric_does_not_overshoot() -> None:
    # the metric is the old load over the pods that had metrics then; pods added since count
    # at 0 %, so the controller settles at what the load needs, not at maxReplicas
    per_pod = 1256.0  # req/s at 65 %
    sim = simulate(CHART.hpa, lambda t: 1000 if t < 60 else 20000, per_pod / 0.65,
                   start_replicas=3, seconds=600, metrics_delay_s=60, pod_start_s=30)  # fmt: skip
    assert max(s.desired for s in sim.steps) == math.ceil(20000 / per_pod)  # 16
    assert [s.desired for s in sim.steps if 105 <= s.t_s <= 180] == [3, 7, 7, 14, 14, 16]
