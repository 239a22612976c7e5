"""The repository: per-version load status, isolation of failures, version order, lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import ManifestError, ModelNotFoundError, ModelNotReadyError
from service.models import ModelRepository, default_repository_path, version_sort_key
from tests.support.models import (
    mlp_manifest,
    projectile_manifest,
    state_dict_for,
    torchscript_manifest,
    write_model,
)


def _broken(root: Path, name: str = "broken", version: str = "1") -> None:
    m = mlp_manifest(name, version)
    tensors = state_dict_for(m)
    tensors["net.0.weight"] = tensors["net.0.weight"][:, :2].contiguous()
    write_model(root, m, tensors)


def test_one_broken_model_does_not_take_the_good_one_down(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("good"))
    _broken(tmp_path)
    repo = ModelRepository.load(tmp_path)
    assert repo.ready()
    assert repo.names() == ["broken", "good"]
    assert repo.get("good").name == "good"
    by_name = {s.name: s for s in repo.statuses()}
    assert by_name["good"].state == "ready"
    assert by_name["good"].reason is None
    assert by_name["broken"].state == "failed"
    assert by_name["broken"].reason is not None
    assert "'net.0.weight' has shape [4, 2]" in by_name["broken"].reason
    assert by_name["broken"].manifest is not None  # parsed, so metadata can still be shown
    with pytest.raises(ModelNotReadyError, match=r"failed to load.*has shape"):
        repo.get("broken", "1")
    with pytest.raises(ModelNotReadyError, match="no ready version"):
        repo.get("broken")


def test_one_broken_version_does_not_take_the_others_down(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("p", "1"))
    write_model(tmp_path, projectile_manifest("p", "2"))
    bad = projectile_manifest("p", "3")
    bad["inputs"][0]["unit"] = "furlongz"
    write_model(tmp_path, bad)
    repo = ModelRepository.load(tmp_path)
    assert repo.versions("p") == ["1", "2", "3"]
    assert repo.get("p").version == "2"  # latest *ready* version
    assert repo.status("p", "3").state == "failed"


def test_versions_order_numerically_then_as_text(tmp_path: Path) -> None:
    for version in ["10", "2", "1", "beta", "alpha"]:
        write_model(tmp_path, projectile_manifest("p", version))
    repo = ModelRepository.load(tmp_path)
    assert repo.versions("p") == ["1", "2", "10", "alpha", "beta"]
    assert repo.get("p").version == "beta"
    assert sorted(["10", "9", "x"], key=version_sort_key) == ["9", "10", "x"]


def test_unknown_model_lists_the_available_ones(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("a"))
    write_model(tmp_path, projectile_manifest("b"))
    repo = ModelRepository.load(tmp_path)
    with pytest.raises(ModelNotFoundError) as info:
        repo.get("c")
    assert "unknown model 'c'" in info.value.message
    assert "['a', 'b']" in info.value.message
    assert info.value.details["available"] == ["a", "b"]


def test_unknown_version_lists_the_available_ones(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("a", "1"))
    repo = ModelRepository.load(tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"no version '7'; available versions: \['1'\]"):
        repo.get("a", "7")


def test_manifest_must_match_its_folder(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("inner", "1"), folder=("outer", "1"))
    write_model(tmp_path, projectile_manifest("v", "2"), folder=("v", "1"))
    repo = ModelRepository.load(tmp_path)
    reasons = {(s.name, s.version): s.reason or "" for s in repo.statuses()}
    assert "declares name 'inner' version '1', but its folder is outer/1" in reasons[("outer", "1")]
    assert "must match the folder names" in reasons[("v", "1")]
    assert not repo.ready()


def test_layout_problems_are_statuses(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "nomanifest" / "1").mkdir(parents=True)
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / "README.md").write_text("not a model", encoding="utf-8")
    repo = ModelRepository.load(tmp_path)
    reasons = {s.name: s.reason or "" for s in repo.statuses()}
    assert set(reasons) == {"empty", "nomanifest"}
    assert "no version folders" in reasons["empty"]
    assert "no model.yaml" in reasons["nomanifest"]
    assert repo.versions("empty") == []
    with pytest.raises(ModelNotReadyError):
        repo.get("empty")


def test_an_empty_repository_is_not_ready(tmp_path: Path) -> None:
    repo = ModelRepository.load(tmp_path)
    assert not repo.ready()
    assert repo.names() == []
    assert repo.statuses() == []


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is not a directory"):
        ModelRepository.load(tmp_path / "nowhere")


def test_trusted_flag_reaches_the_loader(tmp_path: Path) -> None:
    (write_model(tmp_path, torchscript_manifest("ts")) / "model.pt").write_bytes(b"not torchscript")
    untrusted = ModelRepository.load(tmp_path).status("ts", "1").reason or ""
    trusted = ModelRepository.load(tmp_path, trusted=True).status("ts", "1").reason or ""
    assert "not marked trusted" in untrusted
    assert "could not be loaded as TorchScript" in trusted


def test_default_repository_ships_both_models() -> None:
    root = default_repository_path()
    assert (root / "projectile" / "1" / "model.yaml").is_file()
    assert (root / "pendulum" / "1" / "model.yaml").is_file()
    repo = ModelRepository.load(root)
    assert [(s.name, s.version, s.state) for s in repo.statuses()] == [
        ("pendulum", "1", "ready"),
        ("projectile", "1", "ready"),
    ]


def test_an_unexpected_exception_is_contained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path, projectile_manifest("a"))
    write_model(tmp_path, projectile_manifest("b"))
    from service.models import repository, runtime

    def flaky(folder: Path, **kwargs: object) -> runtime.LoadedModel:
        if folder.parent.name == "a":
            raise RuntimeError("disk on fire")
        return runtime.load_model(folder, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "load_model", flaky)
    repo = ModelRepository.load(tmp_path)
    assert repo.status("a", "1").reason == "unexpected RuntimeError while loading: disk on fire"
    assert repo.get("b").name == "b"


def test_statuses_are_hashable_values(tmp_path: Path) -> None:
    write_model(tmp_path, projectile_manifest("a"))
    first = ModelRepository.load(tmp_path).statuses()
    second = ModelRepository.load(tmp_path).statuses()
    assert first == second
    assert len({*first, *second}) == 1
