"""Validity domains in ``model.yaml``: what a manifest may declare, what load refuses, and
which values a domain flags (closed and open ends, bounds in other units, per element)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.dataplane import DataPlane, PredictRequest, QuantityIn
from service.errors import ManifestError
from service.models import LoadedModel, ModelRepository, load_model
from tests.support.models import mlp_manifest, projectile_manifest, write_model


def projectile_with(**domains: Any) -> dict[str, Any]:
    manifest = projectile_manifest()
    for spec in manifest["inputs"]:
        if spec["name"] in domains:
            spec["domain"] = domains[spec["name"]]
    return manifest


def loaded(tmp_path: Path, manifest: dict[str, Any]) -> LoadedModel:
    return load_model(write_model(tmp_path, manifest))


# manifest change -> fragments of the refusal (what was wrong, expected, received)
REFUSED: list[tuple[dict[str, Any], list[str]]] = [
    (projectile_with(speed={"lower": 0, "unit": "kg"}), ["domain.lower", "length*time^-1", "'kg'"]),
    (projectile_with(angle={"lower": 1, "upper": 1}), ["must be below", "lower 1", "upper 1"]),
    (projectile_with(angle={"lower": 90, "upper": 1, "unit": "deg"}), ["below domain.upper"]),
    (projectile_with(speed={"lower": 0, "unit": "furlongs"}), ["domain.lower unit", "'furlongs'"]),
    (projectile_with(speed={}), ["needs 'lower', 'upper' or both"]),
    (projectile_with(speed={"lower": {"value": 0, "closed": True}}), ["closed", "unknown field"]),
    (projectile_with(speed={"lower": "fast"}), ["domain.lower"]),
]


@pytest.mark.parametrize(("manifest", "expected"), REFUSED)
def test_a_bad_domain_is_refused_at_load(
    tmp_path: Path, manifest: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(ManifestError) as info:
        loaded(tmp_path, manifest)
    for fragment in expected:
        assert fragment in info.value.message, info.value.message


def test_per_element_bounds_need_one_value_per_element(tmp_path: Path) -> None:
    manifest = mlp_manifest()
    manifest["inputs"][1]["domain"] = {"lower": [0, 1, 2]}  # b has shape [2]
    with pytest.raises(ManifestError, match=r"one value per element of shape \[2\] \(2\)"):
        loaded(tmp_path, manifest)


def test_only_inputs_have_a_domain(tmp_path: Path) -> None:
    manifest = projectile_manifest()
    manifest["outputs"][0]["domain"] = {"lower": 0}
    with pytest.raises(ManifestError, match="output 'range' declares a domain"):
        loaded(tmp_path, manifest)


def test_bounds_are_kept_in_the_models_unit(tmp_path: Path) -> None:
    model = loaded(
        tmp_path,
        projectile_with(
            speed={"lower": 0, "upper": {"value": 360, "unit": "km/h"}},  # each its own unit
            angle={"lower": 0, "upper": 90, "unit": "deg"},
        ),
    )
    assert model.domain is not None
    speed, angle = model.domain.inputs
    assert (speed.lower, speed.upper) == (0.0, 100.0)
    assert angle.upper == pytest.approx(np.pi / 2)


def dataplane(tmp_path: Path, manifest: dict[str, Any]) -> DataPlane:
    write_model(tmp_path, manifest)
    return DataPlane(ModelRepository.load(tmp_path))


def angles_outside(plane: DataPlane, angles: list[float], unit: str = "deg") -> list[int]:
    inputs = {
        "speed": QuantityIn(10.0, "m/s"),
        "angle": QuantityIn(angles, unit),
        "g": QuantityIn(9.81, "m/s^2"),
    }
    result = plane.predict(PredictRequest(inputs, "proj"))
    return result.rows_outside().get("angle", [])


# declared domain of the angle, angles sent (deg) -> rows flagged
ENDS = [
    ({"lower": 0, "upper": 90, "unit": "deg"}, [-1, 0, 45, 90, 91], [0, 4]),  # closed
    (
        {"lower": {"value": 0, "open": True}, "upper": {"value": 90, "open": True}, "unit": "deg"},
        [-1, 0, 45, 90, 91],
        [0, 1, 3, 4],
    ),
    ({"upper": 1}, [0, 57, 58, -1000], [2]),  # radians, no lower bound
    ({"lower": {"value": 0.5, "unit": "turn"}}, [179, 180, 181], [0]),
]


@pytest.mark.parametrize(("domain", "angles", "outside"), ENDS)
def test_closed_and_open_ends(
    tmp_path: Path, domain: dict[str, Any], angles: list[float], outside: list[int]
) -> None:
    assert angles_outside(dataplane(tmp_path, projectile_with(angle=domain)), angles) == outside


def test_per_element_bounds_flag_the_row_of_any_element(tmp_path: Path) -> None:
    manifest = mlp_manifest()
    manifest["inputs"][1]["domain"] = {"lower": [0, 10], "upper": [1, 20], "unit": "s"}
    plane = dataplane(tmp_path, manifest)
    b = [[0.5, 15], [2, 15], [0.5, 9], [1, 20]]
    inputs = {"a": QuantityIn([1.0] * 4, "m"), "b": QuantityIn(b, "s")}
    result = plane.predict(PredictRequest(inputs, "toy"))
    assert result.rows_outside() == {"b": [1, 2]}


def test_an_unbatched_value_outside_flags_every_row(tmp_path: Path) -> None:
    plane = dataplane(tmp_path, projectile_with(g={"lower": {"value": 0, "open": True}}))
    inputs = {
        "speed": QuantityIn([1.0, 2.0, 3.0], "m/s"),
        "angle": QuantityIn(0.5, "rad"),
        "g": QuantityIn(-9.81, "m/s^2"),
    }
    assert plane.predict(PredictRequest(inputs, "proj")).rows_outside() == {"g": [0, 1, 2]}


@pytest.fixture(scope="module")
def closed_plane(tmp_path_factory: pytest.TempPathFactory) -> DataPlane:
    domain = {"lower": -30, "upper": 60, "unit": "deg"}
    return dataplane(tmp_path_factory.mktemp("closed"), projectile_with(angle=domain))


@given(st.lists(st.floats(-720, 720, allow_nan=False), min_size=1, max_size=20))
def test_flagged_exactly_where_outside(closed_plane: DataPlane, angles: list[float]) -> None:
    """Invariant: a row is flagged iff its value lies outside [-30, 60] deg (values within
    rounding of an end, where unit conversion decides, are left out)."""
    assume(all(abs(a - end) > 1e-9 for a in angles for end in (-30, 60)))
    want = [i for i, a in enumerate(angles) if not -30 <= a <= 60]
    assert angles_outside(closed_plane, angles) == want
