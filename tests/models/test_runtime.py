"""LoadedModel.predict: manifest order in, manifest order out, arrays per declared shape in the
dtype the model computes in (its weights')."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.errors import ManifestError, ShapeError
from service.models import (
    ArchitectureSpec,
    LoadedModel,
    architecture_names,
    load_model,
    resolve_architecture,
)
from service.models.nets import MLP
from tests.support.models import (
    Scale,
    mlp_manifest,
    projectile_manifest,
    scale_manifest,
    state_dict_for,
    write_model,
    write_torchscript,
)


@pytest.fixture
def toy(tmp_path: Path) -> LoadedModel:
    return load_model(write_model(tmp_path, mlp_manifest()))


def test_sizes_and_units(toy: LoadedModel) -> None:
    assert toy.input_sizes == (1, 2)
    assert toy.output_sizes == (2,)
    assert [u.expression for u in toy.input_units] == ["m", "s"]
    assert [u.scale for u in toy.output_units] == [1.0]


def test_predict_matches_the_module_on_concatenated_columns(toy: LoadedModel) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5,)), rng.normal(size=(5, 2))
    (out,) = toy.predict([a, b])
    assert out.dtype == np.float32
    assert out.shape == (5, 2)
    flat = torch.from_numpy(np.concatenate([a[:, None], b], axis=1).astype(np.float32))
    with torch.inference_mode():
        expected = toy.module(flat).numpy()
    np.testing.assert_array_equal(out, expected)


def test_rows_are_independent(toy: LoadedModel) -> None:
    a, b = np.arange(4.0), np.arange(8.0).reshape(4, 2)
    (batch,) = toy.predict([a, b])
    singles = [toy.predict([a[i : i + 1], b[i : i + 1]])[0][0] for i in range(4)]
    np.testing.assert_allclose(batch, np.stack(singles), rtol=1e-6)


def test_outputs_are_contiguous_in_the_models_dtype(tmp_path: Path) -> None:
    model = load_model(write_model(tmp_path, projectile_manifest()))
    assert model.dtype == np.float32  # an analytic module computes in torch's default
    for out in model.predict([np.ones(3), np.ones(3), np.ones(3)]):
        assert out.flags.c_contiguous
        assert out.dtype == np.float32


def test_zero_rows(toy: LoadedModel) -> None:
    (out,) = toy.predict([np.zeros(0), np.zeros((0, 2))])
    assert out.shape == (0, 2)


def test_multidimensional_outputs_are_reshaped(tmp_path: Path) -> None:
    m = mlp_manifest()
    m["outputs"] = [
        {"name": "grid", "unit": "m", "shape": [2, 3]},
        {"name": "total", "unit": "m"},
    ]
    m["architecture"]["params"]["out_features"] = 7
    model = load_model(write_model(tmp_path, m))
    grid, total = model.predict([np.ones(3), np.ones((3, 2))])
    assert grid.shape == (3, 2, 3)
    assert total.shape == (3,)


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ([np.ones(2)], "takes 2 inputs ['a', 'b'], received 1"),
        ([np.ones(2), np.ones((2, 3))], "input 'b': expected shape [2, 2]"),
        ([np.ones(2), np.ones((3, 2))], "input 'b': expected shape [2, 2]"),
        ([np.ones((2, 1)), np.ones((2, 2))], "input 'a': expected shape [2]"),
        ([np.float64(1.0), np.ones((1, 2))], "input 'a': expected an array of shape ['rows']"),
    ],
)
def test_bad_shapes_are_shape_errors(toy: LoadedModel, inputs: list[object], fragment: str) -> None:
    with pytest.raises(ShapeError) as info:
        toy.predict(inputs)  # type: ignore[arg-type]
    assert fragment in info.value.message


def test_projectile_has_no_weights(tmp_path: Path) -> None:
    model = load_model(write_model(tmp_path, projectile_manifest()))
    assert list(model.module.state_dict()) == []
    r, h, t = model.predict([np.array([10.0]), np.array([np.pi / 4]), np.array([10.0])])
    np.testing.assert_allclose([r[0], h[0], t[0]], [10.0, 2.5, np.sqrt(2.0)], rtol=1e-6)


def test_registry_lists_the_architectures() -> None:
    assert {"mlp", "fourier_mlp", "pi_group_mlp", "projectile"} <= set(architecture_names())


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "silu"])
def test_mlp_activations_build(activation: str) -> None:
    spec = ArchitectureSpec(
        name="mlp",
        params={"in_features": 2, "out_features": 1, "hidden": [3, 3], "activation": activation},
    )
    module = resolve_architecture(spec).build()
    assert module(torch.ones(4, 2)).shape == (4, 1)


def test_normalization_buffers_live_in_the_weights() -> None:
    m = mlp_manifest()
    keys = set(state_dict_for(m))
    norms = {"input_norm.shift", "input_norm.scale", "output_norm.shift", "output_norm.scale"}
    assert norms <= keys
    m["architecture"]["params"]["normalize"] = False
    assert not any("norm" in k for k in state_dict_for(m))


def test_normalization_is_applied(tmp_path: Path) -> None:
    m = mlp_manifest()
    tensors = state_dict_for(m)
    tensors["output_norm.shift"] = torch.tensor([100.0, -100.0])
    tensors["output_norm.scale"] = torch.zeros(2)
    model = load_model(write_model(tmp_path, m, tensors))
    (out,) = model.predict([np.ones(1), np.ones((1, 2))])
    np.testing.assert_allclose(out, [[100.0, -100.0]])


@pytest.mark.parametrize("learned", [False, True])
def test_fourier_mlp_round_trips_its_feature_matrix(tmp_path: Path, learned: bool) -> None:
    m = mlp_manifest()
    m["architecture"] = {
        "name": "fourier_mlp",
        "params": {
            "in_features": 3,
            "out_features": 2,
            "n_features": 8,
            "scale": 2.0,
            "learned_features": learned,
            "hidden": [6],
            "seed": 7,
        },
    }
    tensors = state_dict_for(m)
    assert tensors["features"].shape == (3, 8)
    tensors["features"] = torch.full((3, 8), 0.25)  # the file, not the seed, decides
    model = load_model(write_model(tmp_path, m, tensors))
    assert torch.equal(model.module.state_dict()["features"], torch.full((3, 8), 0.25))
    (out,) = model.predict([np.ones(4), np.ones((4, 2))])
    assert out.shape == (4, 2)
    assert np.isfinite(out).all()


def test_fourier_features_are_seeded() -> None:
    def features(seed: int) -> torch.Tensor:
        spec = ArchitectureSpec(
            name="fourier_mlp", params={"in_features": 2, "out_features": 1, "seed": seed}
        )
        features: torch.Tensor = resolve_architecture(spec).build().state_dict()["features"]
        return features

    assert torch.equal(features(1), features(1))
    assert not torch.equal(features(1), features(2))


def test_pi_group_mlp_is_scale_times_dimensionless_factor(tmp_path: Path) -> None:
    m = mlp_manifest()
    m["inputs"] = [{"name": "length", "unit": "m"}, {"name": "g", "unit": "m/s^2"}]
    m["outputs"] = [{"name": "t", "unit": "s"}]
    m["architecture"] = {
        "name": "pi_group_mlp",
        "params": {
            "group_exponents": [[0, 0]],
            "scale_exponents": [[0.5, -0.5]],
            "scale_constants": [3.0],
            "hidden": [4],
        },
    }
    model = load_model(write_model(tmp_path, m))
    mlp = model.module.mlp
    assert isinstance(mlp, MLP)
    with torch.inference_mode():
        factor = float(mlp(torch.ones(1, 1))[0, 0])
    (t,) = model.predict([np.array([4.0, 9.0]), np.array([1.0, 4.0])])
    np.testing.assert_allclose(t, 3.0 * np.array([2.0, 1.5]) * factor, rtol=1e-6)


def test_pi_group_scale_dimension_is_checked(tmp_path: Path) -> None:
    m = mlp_manifest()
    m["inputs"] = [{"name": "length", "unit": "m"}, {"name": "g", "unit": "m/s^2"}]
    m["outputs"] = [{"name": "t", "unit": "s"}]
    m["architecture"] = {
        "name": "pi_group_mlp",
        "params": {"group_exponents": [[0, 0]], "scale_exponents": [[1, -1]], "hidden": [4]},
    }
    with pytest.raises(ManifestError, match=r"scale_exponents\[0\] gives dimension T²"):
        load_model(write_model(tmp_path, m))


def test_pi_group_params_must_be_consistent() -> None:
    spec = ArchitectureSpec(
        name="pi_group_mlp", params={"group_exponents": [[1, 0]], "scale_exponents": [[1]]}
    )
    with pytest.raises(ManifestError, match="one exponent per input column"):
        resolve_architecture(spec)


class _Mixed(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.ones(1))
        self.b = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.a


class _Widening(torch.nn.Module):
    """float32 weights, a float64 answer: not the dtype the model declares by its weights."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).double()


@pytest.mark.parametrize(
    ("module", "dtype"),
    [
        pytest.param(Scale(torch.float32, 3.0), np.float32, id="float32-weights"),
        pytest.param(Scale(torch.float64, 3.0), np.float64, id="float64-weights"),
    ],
)
def test_a_model_computes_and_answers_in_its_weights_dtype(
    tmp_path: Path, module: torch.nn.Module, dtype: type[np.floating[Any]]
) -> None:
    model = load_model(write_torchscript(tmp_path, scale_manifest("s"), module), trusted=True)
    assert model.dtype == dtype
    x = np.array([0.1, 35.324])
    (y,) = model.predict([x])
    assert y.dtype == dtype
    assert y.tolist() == (x.astype(dtype) * dtype(3.0)).tolist()  # computed in that dtype


@pytest.mark.parametrize(
    ("module", "message"),
    [
        pytest.param(
            _Mixed(), "the module's weights mix dtypes ['float32', 'float64']", id="mixed"
        ),
        pytest.param(
            Scale(torch.float16), "the module's weights are float16; expected float32 or", id="f16"
        ),
        pytest.param(
            _Widening(),
            "forward pass returned float64 values; the model computes in float32",
            id="answers-in-another-dtype",
        ),
    ],
)
def test_a_model_without_one_float32_or_float64_dtype_is_refused(
    tmp_path: Path, module: torch.nn.Module, message: str
) -> None:
    folder = write_torchscript(tmp_path, scale_manifest("s"), module)
    with pytest.raises(ManifestError, match=re.escape(message)):
        load_model(folder, trusted=True)
