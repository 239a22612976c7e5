"""The embedded default models against their analytic answers, over their documented domains."""

from __future__ import annotations

import numpy as np
import pytest

from service.models import LoadedModel, ModelRepository, default_repository_path
from service.tensors import FloatArray
from training.pendulum import AMPLITUDE_MAX, G_RANGE, LENGTH_RANGE, TOLERANCE, exact_period

# float32 evaluation of sin/cos/products: a few ulp (6e-8 each) of relative error.
PROJECTILE_RTOL = 1e-6


@pytest.fixture(scope="module")
def defaults() -> ModelRepository:
    return ModelRepository.load(default_repository_path())


def _f32(x: FloatArray) -> FloatArray:
    """What the model actually sees: the inputs rounded to float32."""
    return x.astype(np.float32).astype(np.float64)


def test_projectile_matches_the_closed_form(defaults: ModelRepository) -> None:
    model = defaults.get("projectile", "1")
    rng = np.random.default_rng(1)
    n = 20_000
    speed = rng.uniform(0.1, 1000.0, n)
    angle = rng.uniform(0.01, 1.55, n)  # away from 0 and π/2 where range -> 0
    g = rng.uniform(0.1, 100.0, n)
    got = model.predict([speed, angle, g])
    v, a, gg = _f32(speed), _f32(angle), _f32(g)
    want = [v**2 * np.sin(2 * a) / gg, (v * np.sin(a)) ** 2 / (2 * gg), 2 * v * np.sin(a) / gg]
    for name, out, ref in zip(["range", "apex_height", "flight_time"], got, want, strict=True):
        rel = np.max(np.abs(out - ref) / np.abs(ref))
        assert rel < PROJECTILE_RTOL, (name, rel)


def test_projectile_edge_cases(defaults: ModelRepository) -> None:
    model = defaults.get("projectile")
    r, h, t = model.predict([np.array([0.0, 10.0]), np.array([0.5, np.pi / 2]), np.ones(2)])
    assert r[0] == h[0] == t[0] == 0.0
    assert abs(r[1]) < 1e-5  # straight up: no range
    np.testing.assert_allclose([h[1], t[1]], [50.0, 20.0], rtol=1e-6)


def _pendulum(defaults: ModelRepository) -> LoadedModel:
    return defaults.get("pendulum", "1")


def test_pendulum_surrogate_within_tolerance_over_its_domain(defaults: ModelRepository) -> None:
    model = _pendulum(defaults)
    rng = np.random.default_rng(2)
    n = 50_000
    low, high = np.log(LENGTH_RANGE)
    length = np.exp(rng.uniform(low, high, n))
    amplitude = np.concatenate(
        [np.linspace(-AMPLITUDE_MAX, AMPLITUDE_MAX, 10_001), rng.uniform(-2.8, 2.8, n - 10_001)]
    )
    g = rng.uniform(*G_RANGE, n)
    (period,) = model.predict([length, amplitude, g])
    rel = np.abs(period - exact_period(length, amplitude, g)) / exact_period(length, amplitude, g)
    assert rel.max() < TOLERANCE


def test_pendulum_small_amplitude_limit(defaults: ModelRepository) -> None:
    (period,) = _pendulum(defaults).predict([np.array([1.0]), np.array([1e-3]), np.array([9.81])])
    np.testing.assert_allclose(period, 2 * np.pi * np.sqrt(1 / 9.81), rtol=TOLERANCE)


def test_pendulum_scaling_is_exact_by_construction(defaults: ModelRepository) -> None:
    """The surrogate only learned the dimensionless factor: T ∝ sqrt(L/g) holds to float32."""
    model = _pendulum(defaults)
    (base,) = model.predict([np.array([1.0]), np.array([2.0]), np.array([9.0])])
    (scaled,) = model.predict([np.array([4.0]), np.array([2.0]), np.array([9.0])])
    np.testing.assert_allclose(scaled, 2 * base, rtol=1e-6)


def test_pendulum_is_even_in_amplitude(defaults: ModelRepository) -> None:
    model = _pendulum(defaults)
    theta = np.linspace(0.0, AMPLITUDE_MAX, 50)
    (pos,) = model.predict([np.ones(50), theta, np.ones(50)])
    (neg,) = model.predict([np.ones(50), -theta, np.ones(50)])
    np.testing.assert_array_equal(pos, neg)


def test_exact_period_reference_values() -> None:
    """T(90°) / T0 = 2K(1/√2)/π = 1.18034060... (tabulated)."""
    ratio = exact_period(1.0, np.pi / 2, 1.0) / (2 * np.pi)
    np.testing.assert_allclose(ratio, 1.1803405990161, rtol=1e-12)
    np.testing.assert_allclose(exact_period(2.0, 0.0, 2.0), 2 * np.pi, rtol=1e-15)


def test_default_descriptions_state_their_domain(defaults: ModelRepository) -> None:
    pendulum = defaults.get("pendulum").manifest
    assert f"|amplitude| <= {AMPLITUDE_MAX} rad" in pendulum.description
    assert f"{TOLERANCE:g}" in pendulum.description
    assert pendulum.weights is not None
    assert pendulum.weights.sha256 is not None
    weights = default_repository_path() / "pendulum" / "1" / pendulum.weights.file
    assert weights.stat().st_size < 200_000
