"""The weights loader (service/models/weights.py) as a specification of its refusals.

- A weights file holds a flat table of tensors under string names, nothing else: a state
  dict read by ``torch.load(weights_only=True)`` (which admits ints, strings, lists, nested
  dicts and non-string keys) is refused entry by entry, naming the entry, what it is and
  what was expected; a safetensors file whose header describes anything but tensors is
  refused by its parser, and the refusal says the format and the parser's reason.
- The sha256 of the manifest is checked before any parser sees the file: a file whose
  digest differs is refused with both digests, and the parser is never called (a tripwire
  stands in for it; a control run with the right digest shows the tripwire is the parser
  the loader really calls).

Every refusal reaches the caller through ``load_model`` as a ManifestError prefixed with
the model and version.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from service.errors import ManifestError
from service.models import load_model
from service.models import weights as weights_module
from tests.support.models import (
    WEIGHTS,
    mlp_manifest,
    state_dict_for,
    torchscript_manifest,
    write_model,
)

PREFIX = "model 'toy' version '1': "


def state_dict_model(root: Path, sha256: str | None = None) -> Path:
    m = mlp_manifest()
    m["weights"] = {"file": "weights.pt", "format": "state_dict"}
    if sha256 is not None:
        m["weights"]["sha256"] = sha256
    return write_model(root, m)


def refusal(folder: Path, *, trusted: bool = False) -> ManifestError:
    with pytest.raises(ManifestError) as refused:
        load_model(folder, trusted=trusted)
    return refused.value


def with_entry(key: Any, value: Any) -> dict[Any, Any]:
    """The toy model's valid tensors with one entry replaced (or added) first in order."""
    tensors: dict[Any, Any] = dict(state_dict_for(mlp_manifest()))
    tensors.pop(key, None)
    return {key: value, **tensors}


# --- state dicts (torch.load, weights_only=True) ---------------------------------------


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        pytest.param(
            with_entry("net.0.weight", 3),
            "entry 'net.0.weight' is int, expected a tensor",
            id="int-value",
        ),
        pytest.param(
            with_entry("net.0.bias", "zeros"),
            "entry 'net.0.bias' is str, expected a tensor",
            id="str-value",
        ),
        pytest.param(
            with_entry("net.0.weight", None),
            "entry 'net.0.weight' is NoneType, expected a tensor",
            id="none-value",
        ),
        pytest.param(
            with_entry("net.0.weight", [torch.zeros(4, 3)]),
            "entry 'net.0.weight' is list, expected a tensor",
            id="list-of-tensors",
        ),
        pytest.param(
            with_entry("net", {"0.weight": torch.zeros(4, 3)}),
            "entry 'net' is dict, expected a tensor",
            id="nested-state-dict",
        ),
        pytest.param(
            with_entry(0, torch.zeros(4, 3)),
            "entry name 0 is int, expected a string",
            id="int-name",
        ),
        pytest.param(
            with_entry(("net", 0), torch.zeros(4, 3)),
            "entry name ('net', 0) is tuple, expected a string",
            id="tuple-name",
        ),
        pytest.param(
            with_entry(b"net.0.weight", torch.zeros(4, 3)),
            "entry name b'net.0.weight' is bytes, expected a string",
            id="bytes-name",
        ),
        pytest.param(
            with_entry("n" * 100, 1.5),
            "entry '" + "n" * 76 + "... is float, expected a tensor",
            id="long-name-is-cut",
        ),
    ],
)
def test_a_state_dict_entry_that_is_not_a_named_tensor_is_refused(
    tmp_path: Path, entries: dict[Any, Any], message: str
):
    """torch's weights-only unpickler reads every one of these; the loader must refuse."""
    folder = state_dict_model(tmp_path)
    torch.save(entries, folder / "weights.pt")
    error = refusal(folder)
    assert error.message == f"{PREFIX}weights file 'weights.pt': {message}"
    assert error.details["file"] == "weights.pt"


def test_a_plain_state_dict_of_named_tensors_is_accepted(tmp_path: Path):
    """The control for the table above: the same files with no replaced entry load."""
    folder = state_dict_model(tmp_path)
    tensors = state_dict_for(mlp_manifest(), seed=5)
    torch.save(tensors, folder / "weights.pt")
    loaded = load_model(folder).module.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


# --- safetensors -----------------------------------------------------------------------

TENSOR = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


def safetensors_bytes(header: Any, data: bytes = b"\0\0\0\0") -> bytes:
    """A safetensors file by hand: 8-byte little-endian header length, JSON header, data."""
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    ("header", "received"),
    [
        pytest.param({"w": TENSOR, "x": 5}, "integer `5`", id="int-entry"),
        pytest.param({"w": TENSOR, "x": "hello"}, 'string "hello"', id="str-entry"),
        pytest.param({"w": TENSOR, "x": [1, 2]}, "integer `1`", id="list-entry"),
        pytest.param({"w": TENSOR, "x": {"a": 1}}, "missing field `dtype`", id="object-entry"),
        pytest.param(
            {"w": TENSOR, "__metadata__": {"k": 5}}, "integer `5`", id="non-string-metadata"
        ),
        pytest.param([TENSOR], "sequence", id="header-not-a-table"),
    ],
)
def test_a_safetensors_header_that_describes_anything_but_tensors_is_refused(
    tmp_path: Path, header: Any, received: str
):
    """safetensors keys are JSON strings by construction; a non-tensor entry can only be a
    crafted header, and the parser refuses it before any tensor is built."""
    folder = write_model(tmp_path, mlp_manifest(), tensors={})
    (folder / WEIGHTS).write_bytes(safetensors_bytes(header))
    error = refusal(folder)
    assert error.message.startswith(
        f"{PREFIX}weights file '{WEIGHTS}' could not be read as safetensors (only plain "
        "tensors are accepted; no code or arbitrary objects): SafetensorError: "
    )
    assert received in error.message
    assert (error.details["file"], error.details["format"]) == (WEIGHTS, "safetensors")


# --- sha256 before parsing -------------------------------------------------------------


class Tripwire:
    """Stands in for a parser: records each call and raises (the loader wraps the raise)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(Path(str(path)).name)
        raise RuntimeError("tripwire: the parser was called")


def safetensors_folder(root: Path, sha256: str) -> tuple[Path, str, bool]:
    m = mlp_manifest()
    m["weights"]["sha256"] = sha256
    return write_model(root, m), WEIGHTS, False


def state_dict_folder(root: Path, sha256: str) -> tuple[Path, str, bool]:
    folder = state_dict_model(root, sha256)
    torch.save(state_dict_for(mlp_manifest()), folder / "weights.pt")
    return folder, "weights.pt", False


def torchscript_folder(root: Path, sha256: str) -> tuple[Path, str, bool]:
    m = torchscript_manifest(name="toy")
    m["weights"]["sha256"] = sha256
    folder = write_model(root, m)
    (folder / "model.pt").write_bytes(b"PK\x03\x04 not really an archive")
    return folder, "model.pt", True  # TorchScript loads only from a trusted repository


PARSERS: list[Any] = [
    pytest.param(safetensors_folder, (weights_module, "load_file"), id="safetensors"),
    pytest.param(state_dict_folder, (torch, "load"), id="state_dict"),
    pytest.param(torchscript_folder, (torch.jit, "load"), id="torchscript-trusted"),
]
Builder = Callable[[Path, str], tuple[Path, str, bool]]
WRONG = hashlib.sha256(b"the file the manifest was written for").hexdigest()


@pytest.mark.parametrize(("build", "parser"), PARSERS)
def test_a_digest_mismatch_is_refused_before_the_parser_sees_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Builder, parser: tuple[Any, str]
):
    folder, file, trusted = build(tmp_path, WRONG)
    digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
    tripwire = Tripwire()
    monkeypatch.setattr(*parser, tripwire)
    error = refusal(folder, trusted=trusted)
    assert tripwire.calls == []
    assert error.message == (
        f"{PREFIX}weights file {file!r} has sha256 {digest}, the manifest expects {WRONG}"
    )
    assert (error.details["expected"], error.details["received"]) == (WRONG, digest)


@pytest.mark.parametrize(("build", "parser"), PARSERS)
def test_the_tripwire_is_the_parser_the_loader_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Builder, parser: tuple[Any, str]
):
    """The control that keeps the test above honest: with the right digest the same
    tripwire is reached, so 'never called' there means 'refused first'."""
    folder, file, trusted = build(tmp_path / "probe", "0" * 64)
    digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
    folder, file, trusted = build(tmp_path / "real", digest)
    tripwire = Tripwire()
    monkeypatch.setattr(*parser, tripwire)
    error = refusal(folder, trusted=trusted)
    assert tripwire.calls == [file]
    assert "RuntimeError: tripwire: the parser was called" in error.message


def test_a_digest_mismatch_wins_over_a_file_no_parser_could_read(tmp_path: Path):
    """No stand-in: a file the real safetensors parser refuses (a header length of 2^63)
    with a wrong digest is refused for its digest, so the parser never ran."""
    folder, file, _ = safetensors_folder(tmp_path, WRONG)
    (folder / file).write_bytes(struct.pack("<Q", 2**63) + b"{}")
    digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
    error = refusal(folder)
    assert error.message == (
        f"{PREFIX}weights file {file!r} has sha256 {digest}, the manifest expects {WRONG}"
    )
