"""Train -> export -> serve: a model trained by dimtensor-train answers /predict with units
from a real server started on the exported repository; and the exports themselves."""

from __future__ import annotations

import json
import math
import shlex
import shutil
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from service.models import ModelRepository
from service.models.publish import next_version
from service.tensors import FloatArray
from tests.support.jobs import OSCILLATOR, TRAINING
from tests.support.paths import REPO
from tests.support.servers import run_server
from training.export import export_model

cli, write_config = TRAINING.cli, TRAINING.write_config

M, C, K, X0, T_END = 1.0, 0.4, 4.0, 0.10, 4.0  # OSCILLATOR's parameters in SI
TOLERANCE = 0.01  # of the initial amplitude: what the small test config reaches with margin


def exact_displacement(t: FloatArray, t_end: float = T_END) -> FloatArray:
    """The analytic solution of OSCILLATOR (and of the example config: same physics)."""
    gamma = C / (2 * M)
    wd = math.sqrt(K / M - gamma**2)
    x: FloatArray = np.exp(-gamma * t) * (X0 * np.cos(wd * t) + gamma * X0 / wd * np.sin(wd * t))
    return x


@pytest.mark.slow
def test_a_trained_model_is_served_with_units(tmp_path: Path) -> None:
    assert cli("run", write_config(tmp_path, OSCILLATOR, export="oscillator")) == 0
    times_ms = [0.0, 250.0, 1000.0, 1750.0, 2500.0, 3999.0]
    with run_server(tmp_path, workers=1, MODEL_REPOSITORY=str(tmp_path / "models")) as server:
        body = {
            "model": "oscillator",
            "inputs": {"t": {"value": times_ms, "unit": "ms"}},
            "outputs": {"x": "mm"},
        }
        answer = httpx.post(f"{server.url}/predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    x = answer.json()["outputs"]["x"]
    assert x["unit"] == "mm"
    assert x["dimension"] == "length"
    want_mm = exact_displacement(np.array(times_ms) / 1000) * 1000
    assert np.max(np.abs(np.array(x["value"]) - want_mm)) < TOLERANCE * X0 * 1000


def _exported(tmp_path: Path) -> Path:
    config = write_config(tmp_path, {**OSCILLATOR, "steps": 20, "lbfgs_steps": 0}, export="osc")
    assert cli("run", config) == 0
    return config


def test_export_takes_the_next_version_once_per_run(tmp_path: Path) -> None:
    config = _exported(tmp_path)
    models = tmp_path / "models" / "osc"
    assert sorted(p.name for p in models.iterdir()) == ["1"]
    assert cli("run", config) == 0  # nothing left to train, already exported: no new version
    assert sorted(p.name for p in models.iterdir()) == ["1"]
    (models / "7").mkdir()
    assert next_version(models) == 8
    repository = ModelRepository.load(tmp_path / "models")
    manifest = repository.get("osc", "1").manifest
    assert manifest.weights is not None
    assert manifest.weights.sha256 is not None  # checked by the loader


def test_concurrent_exports_take_distinct_versions(tmp_path: Path) -> None:
    config = _exported(tmp_path)
    model = ModelRepository.load(tmp_path / "models").get("osc", "1")
    doc = model.manifest.model_dump(mode="json", exclude={"name", "version", "weights"})
    folders: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: folders.append(
                export_model(tmp_path / "models", "osc", model.module, doc)
            )
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(f.name) for f in folders) == [2, 3, 4, 5]
    leftovers = [p.name for p in (tmp_path / "models" / "osc").iterdir() if not p.name.isdigit()]
    assert leftovers == []
    assert config.exists()
    again = ModelRepository.load(tmp_path / "models").get("osc", "5")
    x = torch.linspace(0, 4, 5)[:, None]
    with torch.no_grad():
        assert torch.equal(again.module(x), model.module(x))


@pytest.mark.slow
def test_the_readme_train_serve_predict_path_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Training", 1)[1].split("\n## ", 1)[0]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    train, serve, ask = (shlex.split(c) for c in commands)
    assert train[:2] == [".venv/bin/dimtensor-train", "run"]
    assert serve == ["MODEL_REPOSITORY=out/models", ".venv/bin/dimtensor-serve", "&"]
    assert ask[:3] == ["curl", "-s", "localhost:8080/predict"]
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    assert cli(*train[1:]) == 0
    body = json.loads(ask[ask.index("-d") + 1])
    with run_server(
        tmp_path, workers=1, MODEL_REPOSITORY=str(tmp_path / "out" / "models")
    ) as server:
        answer = httpx.post(f"{server.url}/predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    shown = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    got = answer.json()["outputs"]["x"]
    assert got["unit"] == shown["outputs"]["x"]["unit"] == "mm"
    np.testing.assert_allclose(got["value"], shown["outputs"]["x"]["value"], atol=0.01)
    want_mm = exact_displacement(np.array([0.0, 1.5, 3.0]), t_end=10.0) * 1000
    np.testing.assert_allclose(got["value"], want_mm, atol=0.1)
