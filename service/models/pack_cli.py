"""``dimtensor-serve pack``: write a trained model into a repository as its next version.

    dimtensor-serve pack --name NAME --architecture ARCH [--params JSON|@FILE]
        (--weights FILE --input NAME=UNIT[SHAPE]... --output NAME=UNIT[SHAPE]...
         | --from-package DIR [--unit NAME=UNIT]...)
        [--repository DIR] [--description TEXT] [--domain-policy flag|refuse|ignore]

The command line of :func:`service.models.pack.pack` and
:func:`~service.models.pack.pack_package`: it prints the new version's folder. A refusal
(bad arguments, or a version the server would refuse) is one line on stderr and exit 2
(``jobkit.exits.ExitCode.CONFIG``), nothing written. ``service.__main__`` imports this
module only for ``pack``, so the server's master never loads torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from jobkit.config import load_environment, read_mapping
from jobkit.errors import ConfigError, exit_code
from jobkit.logs import configure_logging
from service.errors import ServiceError
from service.models.manifest import DOMAIN_POLICIES
from service.models.pack import pack, pack_package
from service.models.weights import read_state_dict
from service.settings import Settings

__all__ = ["WEIGHT_FORMATS", "main", "parse_tensor"]

log = logging.getLogger("pack")

WEIGHT_FORMATS = {".safetensors": "safetensors", ".pt": "state_dict", ".pth": "state_dict"}
"""A ``--weights`` file's suffix -> how it is read (``state_dict``: ``torch.load`` with
``weights_only=True``)."""

_TENSOR = re.compile(r"^(?P<name>[^=\s]+)=(?P<unit>[^\[\]]+?)(?:\[(?P<shape>[0-9,\s]*)\])?$")
_UNIT = re.compile(r"^(?P<name>[^=\s]+)=(?P<unit>.+)$")


def parse_tensor(text: str) -> tuple[str, dict[str, Any]]:
    """``pos=m[3]`` -> ``("pos", {"unit": "m", "shape": [3]})``; no brackets: one number
    per row."""
    match = _TENSOR.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected NAME=UNIT or NAME=UNIT[SHAPE] (such as speed=m/s or pos=m[3]), "
            f"received {text!r}"
        )
    shape = [int(d) for d in (match["shape"] or "").replace(" ", "").split(",") if d]
    return match["name"], {"unit": match["unit"].strip(), "shape": shape}


def _unit(text: str) -> tuple[str, str]:
    match = _UNIT.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected NAME=UNIT (such as speed=km/h), received {text!r}"
        )
    return match["name"], match["unit"].strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dimtensor-serve pack",
        description="Write a trained model into a model repository as its next version, "
        "loaded back and run on an example by the server's own code first (docs/models.md).",
    )
    parser.add_argument(
        "--repository",
        type=Path,
        metavar="DIR",
        help="the model repository (default: $MODEL_REPOSITORY)",
    )
    parser.add_argument("--name", required=True, help="the model's name")
    parser.add_argument("--architecture", required=True, help="the architecture to build")
    parser.add_argument(
        "--params",
        metavar="JSON|@FILE",
        help="its params: JSON text, or @FILE (a JSON or YAML mapping)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="FILE",
        help="a .safetensors file, or a torch state dict (.pt, .pth)",
    )
    for side, verb in (("input", "reads"), ("output", "writes")):
        parser.add_argument(
            f"--{side}",
            type=parse_tensor,
            action="append",
            default=[],
            metavar="NAME=UNIT[SHAPE]",
            help=f"an {side}, in the order the architecture {verb} them (repeat)",
        )
    parser.add_argument(
        "--from-package",
        type=Path,
        metavar="DIR",
        help="a dimtensor DimModelPackage folder: its weights and signature instead",
    )
    parser.add_argument(
        "--unit",
        type=_unit,
        action="append",
        default=[],
        metavar="NAME=UNIT",
        help="with --from-package: the unit a tensor is in (default: coherent SI)",
    )
    parser.add_argument("--description", default=None, help="what the model computes")
    parser.add_argument("--domain-policy", choices=DOMAIN_POLICIES, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit code (argparse's own refusals exit 2 as well)."""
    configure_logging("pack")
    args = _parser().parse_args(argv)
    return exit_code(lambda: _pack(args), log)


def _pack(args: argparse.Namespace) -> int:
    repository = args.repository or load_environment(Settings).model_repository
    if repository is None:
        raise ConfigError("no model repository: expected --repository DIR or MODEL_REPOSITORY")
    params = _params(args.params)
    try:
        if args.from_package is not None:
            folder = _from_package(args, repository, params)
        else:
            folder = _from_files(args, repository, params)
    except ServiceError as exc:
        raise ConfigError(exc.message) from None
    sys.stdout.write(f"{folder}\n")
    return 0


def _from_package(args: argparse.Namespace, repository: Path, params: dict[str, Any]) -> Path:
    given = [f for f in ("weights", "input", "output") if getattr(args, f)]
    if given:
        raise ConfigError(
            f"--from-package gives the weights, inputs and outputs; expected no "
            f"--{given[0]}, received one"
        )
    return pack_package(
        repository,
        args.name,
        args.from_package,
        architecture=args.architecture,
        params=params,
        units=_unique("--unit", args.unit),
        description=args.description,
        domain_policy=args.domain_policy,
    )


def _from_files(args: argparse.Namespace, repository: Path, params: dict[str, Any]) -> Path:
    if args.unit:
        raise ConfigError(
            "--unit applies to --from-package; write a unit into --input or --output "
            f"(NAME=UNIT), received --unit {args.unit[0][0]}={args.unit[0][1]}"
        )
    for side in ("input", "output"):
        if not getattr(args, side):
            raise ConfigError(
                f"no --{side}: expected at least one --{side} NAME=UNIT[SHAPE] (or "
                "--from-package DIR)"
            )
    return pack(
        repository,
        args.name,
        architecture=args.architecture,
        params=params,
        weights=None if args.weights is None else _weights(args.weights),
        inputs=_unique("--input", args.input),
        outputs=_unique("--output", args.output),
        description=args.description or "",
        domain_policy=args.domain_policy,
    )


def _params(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if text.startswith("@"):
        return read_mapping(Path(text[1:]), "a mapping of parameter names to values")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--params: not valid JSON ({exc}); expected a JSON object") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"--params: expected a JSON object, received {type(doc).__name__}")
    return doc


def _weights(path: Path) -> dict[str, torch.Tensor]:
    fmt = WEIGHT_FORMATS.get(path.suffix)
    if fmt is None:
        raise ConfigError(
            f"--weights {path}: expected a file ending in {', '.join(WEIGHT_FORMATS)}, "
            f"received {path.suffix or 'no suffix'}"
        )
    if not path.is_file():
        raise ConfigError(f"--weights {path}: no such file")
    return read_state_dict(path, fmt)


def _unique(flag: str, pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ConfigError(f"{flag}: {name!r} is given twice; expected each name once")
        out[name] = value
    return out
