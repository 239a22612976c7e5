"""``pack`` and ``pack_package``: a trained module, a state dict or a dimtensor model package
becomes the next repository version, which the server's repository loads and ``/predict``
answers with units; every refusal names what was wrong, what was expected and what was
received, and leaves the repository as it was."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from dimtensor import DimArray, Dimension, units

from service.errors import ManifestError, ServiceError
from service.models import ModelRepository
from service.models.pack import PackError, Signature, pack, pack_package
from service.rest.app import create_app
from service.settings import Settings
from service.units import conversion, parse_unit
from tests.support.asgi import PortalClient, portal_client
from tests.support.packs import files_under, mlp, mlp_params, save_package

SPEED = Dimension(length=1, time=-1)
FORCE = Dimension(mass=1, length=1, time=-2)
AREA = Dimension(length=2)

# speed [m/s] and pos [km, 3 per row] -> energy [J]: an mlp of 4 input columns, 1 output.
INPUTS: Signature = {"speed": "m/s", "pos": {"unit": "km", "shape": [3]}}
OUTPUTS: Signature = {"energy": "J"}


def packed(repository: Path, **overrides: Any) -> Path:
    """`pack` of the 4 -> 1 mlp with INPUTS and OUTPUTS, each argument overridable."""
    arguments: dict[str, Any] = {
        "architecture": "mlp",
        "params": mlp_params(4, 1),
        "weights": mlp(4, 1),
        "inputs": INPUTS,
        "outputs": OUTPUTS,
        "description": "energy of a toy system",
    }
    return pack(repository, "toy", **{**arguments, **overrides})


def forward(module: torch.nn.Module, *columns: Any) -> np.ndarray[Any, Any]:
    """What the module computes on float32 columns (rows, n) laid side by side."""
    flat = np.concatenate([np.asarray(c, dtype=np.float64).reshape(len(c), -1) for c in columns], 1)
    with torch.no_grad():
        out: np.ndarray[Any, Any] = module(torch.from_numpy(flat.astype(np.float32))).numpy()
    return out


def si(value: Any, source: str, target: str) -> Any:
    factor, shift = conversion(parse_unit(source), parse_unit(target))
    return np.asarray(value, dtype=np.float64) * factor + shift


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def serve() -> Iterator[Callable[[Path], PortalClient]]:
    """A client of the app over a repository folder, loaded as the server loads it."""
    with_clients: list[Any] = []

    def client(root: Path) -> PortalClient:
        repo = ModelRepository.load(root)
        assert [s.reason for s in repo.statuses() if s.state != "ready"] == []
        context = portal_client(create_app(Settings(), repository=repo))
        with_clients.append(context)
        return context.__enter__()

    yield client
    for context in reversed(with_clients):
        context.__exit__(None, None, None)


# --- round trips -------------------------------------------------------------------------


def test_a_module_becomes_the_next_version_and_answers_predict_with_units(
    repository: Path, serve: Callable[[Path], PortalClient]
) -> None:
    module = mlp(4, 1)
    first = packed(repository, weights=module)
    second = packed(repository, weights=module)
    assert (first.name, second.name) == ("1", "2")
    assert first.parent == second.parent == repository / "toy"
    assert sorted(p.name for p in first.iterdir()) == ["model.yaml", "weights.safetensors"]
    manifest = yaml.safe_load((first / "model.yaml").read_text())
    assert manifest["name"] == "toy"
    assert manifest["version"] == "1"
    assert [(s["name"], s["unit"]) for s in manifest["inputs"]] == [("speed", "m/s"), ("pos", "km")]
    assert manifest["weights"]["format"] == "safetensors"
    assert len(manifest["weights"]["sha256"]) == 64
    speed_kmh, pos_m = [36.0, 72.0], [[100.0, 200.0, 300.0], [0.0, 500.0, 1000.0]]
    body = {
        "model": "toy",
        "version": "1",
        "inputs": {
            "speed": {"value": speed_kmh, "unit": "km/h"},
            "pos": {"value": pos_m, "unit": "m"},
        },
        "outputs": {"energy": "kJ"},
    }
    answer = serve(repository).post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    energy = answer.json()["outputs"]["energy"]
    assert energy["unit"] == "kJ"
    want = forward(module, si(speed_kmh, "km/h", "m/s"), si(pos_m, "m", "km"))[:, 0] / 1000
    np.testing.assert_allclose(energy["value"], want, rtol=1e-5)


def test_a_state_dict_packs_like_its_module(
    repository: Path, serve: Callable[[Path], PortalClient]
) -> None:
    module = mlp(4, 1, seed=3)
    state = {k: v.double() for k, v in module.state_dict().items()}  # float64: cast on load
    folder = packed(repository, weights=state)
    client = serve(repository)
    body = {
        "model": "toy",
        "inputs": {
            "speed": {"value": [1.0], "unit": "m/s"},
            "pos": {"value": [[1.0, 2.0, 3.0]], "unit": "km"},
        },
    }
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    want = forward(module, [1.0], [[1.0, 2.0, 3.0]])[:, 0]
    np.testing.assert_allclose(answer.json()["outputs"]["energy"]["value"], want, rtol=1e-5)
    assert folder.name == "1"


def test_dimarray_batches_give_the_units_shapes_and_the_example(repository: Path) -> None:
    pos = DimArray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], units.km)
    speed = DimArray([10.0, 20.0, 30.0], units.km / units.hour)
    folder = packed(repository, inputs={"speed": speed, "pos": pos})
    manifest = yaml.safe_load((folder / "model.yaml").read_text())
    assert manifest["inputs"] == [
        {"name": "speed", "unit": "km/h", "shape": []},
        {"name": "pos", "unit": "km", "shape": [3]},
    ]
    assert ModelRepository.load(repository).get("toy", "1").manifest.inputs[1].shape == [3]


def test_signature_entries_mix_text_fields_and_dimarrays(repository: Path) -> None:
    inputs: Signature = {
        "speed": {"unit": "m/s", "description": "flow speed", "domain": {"lower": 0}},
        "pos": DimArray([[1.0, 2.0, 3.0]], units.m),
    }
    folder = packed(repository, inputs=inputs, outputs={"energy": DimArray([1.0], units.J)})
    model = ModelRepository.load(repository).get("toy", folder.name)
    assert [(s.name, s.unit, s.shape) for s in model.manifest.inputs] == [
        ("speed", "m/s", []),
        ("pos", "m", [3]),
    ]
    assert model.manifest.inputs[0].description == "flow speed"
    assert model.manifest.outputs[0].unit == "J"


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(
            {
                "speed": DimArray([3.6], units.km / units.hour),
                "pos": DimArray([[1.0, 2.0, 3.0]], units.m),
            },
            id="dimarrays",
        ),
        pytest.param(
            {"speed": [1.0, 2.0], "pos": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}, id="numbers"
        ),
        pytest.param({"speed": 1.0, "pos": np.ones((5, 3))}, id="a-scalar-broadcasts"),
    ],
)
def test_an_example_may_be_dimarrays_or_numbers_in_the_inputs_units(
    repository: Path, example: dict[str, Any]
) -> None:
    assert packed(repository, example=example).name == "1"


def test_an_analytic_architecture_packs_without_weights(
    repository: Path, serve: Callable[[Path], PortalClient]
) -> None:
    folder = pack(
        repository,
        "proj",
        architecture="projectile",
        inputs={"speed": "m/s", "angle": "rad", "g": "m/s^2"},
        outputs={"range": "m", "apex_height": "m", "flight_time": "s"},
        example={"speed": [10.0], "angle": [0.5], "g": [9.81]},
    )
    assert sorted(p.name for p in folder.iterdir()) == ["model.yaml"]
    body = {
        "model": "proj",
        "inputs": {
            "speed": {"value": 10, "unit": "m/s"},
            "angle": {"value": 45, "unit": "deg"},
            "g": {"value": 9.81, "unit": "m/s^2"},
        },
    }
    answer = serve(repository).post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"]["range"]["value"] == pytest.approx(100 / 9.81, rel=1e-5)


def test_a_dimtensor_package_packs_with_si_units_or_the_units_given(
    tmp_path: Path, repository: Path, serve: Callable[[Path], PortalClient]
) -> None:
    module = mlp(2, 1, seed=5)
    package = save_package(
        tmp_path / "pkg", module, {"speed": SPEED, "area": AREA}, {"drag": FORCE}
    )
    assert sorted(p.name for p in package.iterdir()) == [
        "architecture.json",
        "config.json",
        "model_card.json",
        "weights.pt",
    ]
    kw: dict[str, Any] = {"architecture": "mlp", "params": mlp_params(2, 1)}
    si_version = pack_package(repository, "drag", package, **kw)
    kmh_version = pack_package(repository, "drag", package, units={"speed": "km/h"}, **kw)
    repo = ModelRepository.load(repository)
    signature = [(s.name, s.unit) for s in repo.get("drag", si_version.name).manifest.inputs]
    assert signature == [("speed", "m*s^-1"), ("area", "m^2")]
    assert repo.get("drag", si_version.name).manifest.outputs[0].unit == "kg*m*s^-2"
    assert repo.get("drag", si_version.name).manifest.description == "a packaged model"
    assert repo.get("drag", kmh_version.name).manifest.inputs[0].unit == "km/h"
    client = serve(repository)
    for version, speed_in_model_unit in ((si_version.name, 10.0), (kmh_version.name, 36.0)):
        body = {
            "model": "drag",
            "version": version,
            "inputs": {
                "speed": {"value": [36.0], "unit": "km/h"},
                "area": {"value": [2.0], "unit": "m^2"},
            },
            "outputs": {"drag": "N"},
        }
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        want = forward(module, [speed_in_model_unit], [2.0])[:, 0]
        np.testing.assert_allclose(answer.json()["outputs"]["drag"]["value"], want, rtol=1e-5)


def test_a_package_is_never_read_by_dimtensors_loader_nor_unpickled(
    tmp_path: Path, repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DimModelPackage.load`` calls ``torch.load`` without ``weights_only``."""
    package = save_package(
        tmp_path / "pkg", mlp(2, 1), {"speed": SPEED, "area": AREA}, {"drag": FORCE}
    )
    from dimtensor.hub import DimModelPackage

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("DimModelPackage.load was called")

    real_load = torch.load

    def weights_only_load(*args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("weights_only") is True, kwargs
        return real_load(*args, **kwargs)

    monkeypatch.setattr(DimModelPackage, "load", refuse)
    monkeypatch.setattr(torch, "load", weights_only_load)
    folder = pack_package(repository, "drag", package, architecture="mlp", params=mlp_params(2, 1))
    assert folder.name == "1"


# --- refusals ----------------------------------------------------------------------------

REFUSALS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "missing-weight",
        {"weights": {k: v for k, v in mlp(4, 1).state_dict().items() if k != "net.2.bias"}},
        ["weights do not match architecture 'mlp'", "missing tensors ['net.2.bias']"],
    ),
    (
        "unexpected-weight",
        {"weights": {**mlp(4, 1).state_dict(), "extra": torch.zeros(2)}},
        ["unexpected tensors ['extra']"],
    ),
    (
        "misshapen-weight",
        {"weights": mlp(3, 1)},
        ["tensor 'net.0.weight' has shape [8, 3], architecture 'mlp' expects [8, 4]"],
    ),
    (
        "weights-not-tensors",
        {"weights": {"net.0.weight": [1.0, 2.0]}},
        ["weights: entry 'net.0.weight'", "expected a name (str) -> a tensor", "list"],
    ),
    (
        "weights-of-another-kind",
        {"weights": [torch.zeros(1)]},
        ["expected a torch.nn.Module or a mapping of names to tensors, received list"],
    ),
    (
        "unit-the-grammar-cannot-read",
        {"inputs": {"speed": "furlong/fortnight", "pos": {"unit": "km", "shape": [3]}}},
        ["input 'speed'", "unit 'furlong/fortnight' is not a valid unit", "unknown unit symbol"],
    ),
    (
        "widths-the-architecture-cannot-take",
        {"inputs": {"speed": "m/s", "pos": "km"}},
        ["architecture 'mlp' takes 4 input columns", "the declared inputs have 2"],
    ),
    (
        "dimension-the-architecture-cannot-take",
        {
            "architecture": "projectile",
            "params": {},
            "weights": None,
            "inputs": {"speed": "m", "angle": "deg", "g": "m/s^2"},
            "outputs": {"range": "m", "apex_height": "m", "flight_time": "s"},
        },
        ["input column 0 (speed) must have dimension", "received"],
    ),
    (
        "unknown-architecture",
        {"architecture": "no_such_net"},
        ["unknown architecture 'no_such_net'", "expected one of"],
    ),
    (
        "bad-params",
        {"params": {**mlp_params(4, 1), "depth": 3}},
        ["architecture 'mlp': bad params", "depth"],
    ),
    (
        "example-input-not-in-the-signature",
        {"example": {"speed": [1.0], "pos": [[1.0, 2.0, 3.0]], "mass": [2.0]}},
        [
            "the example run through model 'toy' was refused",
            "has no input 'mass'",
            "expected inputs ['speed', 'pos']",
        ],
    ),
    (
        "example-input-missing",
        {"example": {"speed": [1.0]}},
        ["the example run through model 'toy' was refused", "needs input 'pos'"],
    ),
    (
        "example-of-another-dimension",
        {"example": {"speed": DimArray([1.0], units.kg), "pos": [[1.0, 2.0, 3.0]]}},
        ["the example run through model 'toy' was refused", "speed", "mass"],
    ),
    (
        "example-of-another-shape",
        {"example": {"speed": [1.0], "pos": [[1.0, 2.0]]}},
        ["the example run through model 'toy' was refused", "pos"],
    ),
    (
        "non-finite-answer",
        {
            "weights": {
                k: torch.full_like(v, float("inf")) for k, v in mlp(4, 1).state_dict().items()
            }
        },
        ["the example run through model 'toy' was refused", "non-finite"],
    ),
    (
        "example-outside-a-refused-domain",
        {
            "inputs": {
                "speed": {"unit": "m/s", "domain": {"lower": 5}},
                "pos": {"unit": "km", "shape": [3]},
            },
            "domain_policy": "refuse",
        },
        ["the example run through model 'toy' was refused", "outside the validity domain"],
    ),
    (
        "signature-entry-of-another-kind",
        {"inputs": {"speed": 3, "pos": {"unit": "km", "shape": [3]}}},
        [
            "input",
            "'speed'",
            "expected unit text, a mapping of TensorSpec fields or a DimArray",
            "received int",
        ],
    ),
    (
        "signature-mapping-with-another-name",
        {
            "inputs": {
                "speed": {"name": "velocity", "unit": "m/s"},
                "pos": {"unit": "km", "shape": [3]},
            }
        },
        ["'speed'", "names it 'velocity'"],
    ),
    (
        "unknown-tensor-field",
        {"inputs": {"speed": {"unit": "m/s", "units": "m/s"}, "pos": {"unit": "km", "shape": [3]}}},
        ["inputs.0.units", "unknown field"],
    ),
    (
        "duplicate-name",
        {"outputs": {"speed": "J"}},
        ["duplicate tensor name 'speed'"],
    ),
    (
        "unknown-domain-policy",
        {"domain_policy": "sometimes"},
        ["domain_policy", "sometimes"],
    ),
]


@pytest.mark.parametrize(("overrides", "words"), [pytest.param(o, w, id=i) for i, o, w in REFUSALS])
def test_each_refusal_names_the_problem_and_leaves_nothing_behind(
    repository: Path, overrides: dict[str, Any], words: list[str]
) -> None:
    packed(repository)  # version 1, which every refusal must leave alone
    before = files_under(repository)
    with pytest.raises(PackError) as caught:
        packed(repository, **overrides)
    for word in words:
        assert word in caught.value.message, (word, caught.value.message)
    assert isinstance(caught.value, ManifestError)
    assert isinstance(caught.value, ServiceError)
    assert files_under(repository) == before


def test_a_refused_first_version_leaves_no_model_folder(repository: Path) -> None:
    """A model folder without a version would be a failed model to the server."""
    repository.mkdir()
    with pytest.raises(PackError, match="missing tensors"):
        packed(repository, weights={})
    assert files_under(repository) == []


def test_a_name_that_is_not_a_folder_name_never_reaches_the_file_system(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    with pytest.raises(PackError, match="name") as caught:
        pack(
            repository,
            "../outside",
            architecture="mlp",
            params=mlp_params(4, 1),
            weights=mlp(4, 1),
            inputs=INPUTS,
            outputs=OUTPUTS,
        )
    assert "'../outside'" in caught.value.message
    assert files_under(tmp_path) == []


class _Tripwire:
    """Unpickling this touches a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


PACKAGE_REFUSALS: list[tuple[str, Callable[[Path, Path], object], list[str]]] = [
    (
        "a-pickled-model",
        lambda pkg, marker: (pkg / "model.pkl").write_bytes(pickle.dumps(_Tripwire(marker))),
        ["holds model.pkl, a pickled model", "unpickling runs code", "Expected a PyTorch package"],
    ),
    (
        "another-framework",
        lambda pkg, marker: (pkg / "config.json").write_text('{"framework": "jax"}'),
        ["framework 'jax'", "expected 'pytorch'"],
    ),
    (
        "weights-that-carry-code",
        lambda pkg, marker: torch.save({"w": _Tripwire(marker)}, pkg / "weights.pt"),
        ["weights file 'weights.pt' could not be read as state_dict", "no code"],
    ),
    (
        "no-weights",
        lambda pkg, marker: (pkg / "weights.pt").unlink(),
        ["no weights.pt", "expected the state dict"],
    ),
    (
        "no-card",
        lambda pkg, marker: (pkg / "model_card.json").unlink(),
        ["model_card.json cannot be read as JSON"],
    ),
    (
        "not-a-card",
        lambda pkg, marker: (pkg / "model_card.json").write_text('{"card": 1}'),
        ["model_card.json is not a dimtensor model card", "expected info.name"],
    ),
]


@pytest.mark.parametrize(
    ("spoil", "words"), [pytest.param(s, w, id=i) for i, s, w in PACKAGE_REFUSALS]
)
def test_a_package_that_is_not_plain_pytorch_weights_is_refused_without_running_it(
    tmp_path: Path, repository: Path, spoil: Callable[[Path, Path], object], words: list[str]
) -> None:
    package = save_package(
        tmp_path / "pkg", mlp(2, 1), {"speed": SPEED, "area": AREA}, {"drag": FORCE}
    )
    marker = tmp_path / "code-ran"
    spoil(package, marker)
    with pytest.raises(PackError) as caught:
        pack_package(repository, "drag", package, architecture="mlp", params=mlp_params(2, 1))
    for word in words:
        assert word in caught.value.message, (word, caught.value.message)
    assert not marker.exists()
    assert files_under(repository) == []


def test_dimtensors_numpy_package_is_refused_as_a_pickle(tmp_path: Path, repository: Path) -> None:
    package = save_package(
        tmp_path / "pkg", {"w": [1.0]}, {"speed": SPEED}, {"drag": FORCE}, framework="numpy"
    )
    with pytest.raises(PackError, match=r"model\.pkl, a pickled model"):
        pack_package(repository, "drag", package, architecture="mlp", params=mlp_params(1, 1))


@pytest.mark.parametrize(
    ("units_given", "words"),
    [
        ({"speed": "kg"}, ["input 'speed' has dimension length*time^-1", "received 'kg' (mass)"]),
        ({"speed": "furlong"}, ["units: input 'speed'", "unknown unit symbol 'furlong'"]),
        (
            {"mass": "kg"},
            ["'mass' is not a tensor of the package's model card", "['speed', 'area', 'drag']"],
        ),
        ({"drag": "km"}, ["output 'drag' has dimension", "received 'km' (length)"]),
    ],
)
def test_a_unit_override_must_read_and_fit_the_cards_dimension(
    tmp_path: Path, repository: Path, units_given: dict[str, str], words: list[str]
) -> None:
    package = save_package(
        tmp_path / "pkg", mlp(2, 1), {"speed": SPEED, "area": AREA}, {"drag": FORCE}
    )
    with pytest.raises(PackError) as caught:
        pack_package(
            repository,
            "drag",
            package,
            architecture="mlp",
            params=mlp_params(2, 1),
            units=units_given,
        )
    for word in words:
        assert word in caught.value.message, (word, caught.value.message)
    assert files_under(repository) == []


def test_a_dimension_the_architecture_cannot_take_from_a_package(
    tmp_path: Path, repository: Path
) -> None:
    package = save_package(
        tmp_path / "pkg",
        torch.nn.Module(),
        {"speed": Dimension(length=1), "angle": Dimension(), "g": Dimension(length=1, time=-2)},
        {
            "range": Dimension(length=1),
            "apex_height": Dimension(length=1),
            "flight_time": Dimension(time=1),
        },
    )
    with pytest.raises(PackError, match=r"input column 0 \(speed\) must have dimension"):
        pack_package(repository, "proj", package, architecture="projectile")
