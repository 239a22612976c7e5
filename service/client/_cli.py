"""``dimtensor-serve-client`` (also ``python -m service.client``): one call from a shell.

    dimtensor-serve-client predict projectile speed=72km/h angle=45deg g=9.81m/s^2 --out range=m
    dimtensor-serve-client predict projectile speed=10,20,30m/s angle=45deg g=9.81m/s^2
    dimtensor-serve-client models | model NAME | parse 'kg*m^2/s^2' | convert 20 degC K | ready

An input is NAME=VALUE followed by its unit, a value being a number or a comma-separated
list (a batch of rows, optionally in brackets). Answers print as a table whose headers
carry the units. ``--url`` and ``--api-key`` default to ``$DIMTENSOR_SERVE_URL`` and
``$DIMTENSOR_SERVE_API_KEY``.

Exit codes (rows of the project's one table, ``jobkit.exits``): 0 done (``ready``: ready); 8
the server refused (its problem on stderr; ``ready``: not ready); 2 a bad command line; 9 no
answer (could not connect, timed out); 1 a crash.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from jobkit.exits import ExitCode
from service.client._client import Client
from service.client._errors import ClientError, ServerError, TransportError
from service.client._models import ModelInfo, TensorSpec

__all__ = ["main", "parse_quantity", "parser"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"\s*\[?\s*({_NUMBER}(?:\s*,\s*{_NUMBER})*)\s*\]?\s*(.*)", re.DOTALL)
_EXAMPLE = (
    "dimtensor-serve-client predict projectile speed=72km/h angle=45deg g=9.81m/s^2 --out range=m"
)


def parse_quantity(text: str) -> tuple[float | list[float], str]:
    """``"72km/h"`` -> ``(72.0, "km/h")``; ``"10,20m"`` -> ``([10.0, 20.0], "m")``.

    Raises:
        ValueError: no leading number, or no unit after it.
    """
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r}: expected a number or a list like 10,20 followed by a unit")
    numbers, unit = match.groups()
    if not unit.strip():
        raise ValueError(f"{text!r}: a value needs its unit, e.g. {text}m/s (or 1)")
    values = [float(n) for n in numbers.split(",")]
    return (values[0] if "," not in numbers else values), unit.strip()


def parser() -> argparse.ArgumentParser:
    """The command line (kept apart from what runs it)."""
    p = argparse.ArgumentParser(
        prog="dimtensor-serve-client",
        description="Call a dimtensor-serve server with unit-tagged values.",
        epilog=f"example: {_EXAMPLE}",
    )
    p.add_argument("--url", help="server URL (default $DIMTENSOR_SERVE_URL or localhost:8080)")
    p.add_argument("--api-key", help="API key (default $DIMTENSOR_SERVE_API_KEY)")
    p.add_argument("--protocol", choices=["native", "oip"], default="native")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    verbs = p.add_subparsers(dest="verb", required=True)
    predict = verbs.add_parser("predict", help="run a model", epilog=f"example: {_EXAMPLE}")
    predict.add_argument("model")
    predict.add_argument("inputs", nargs="+", metavar="NAME=VALUEUNIT")
    predict.add_argument(
        "--out", action="append", default=[], metavar="NAME[=UNIT]", help="output wanted"
    )
    predict.add_argument("--version")
    verbs.add_parser("models", help="list models and their signatures")
    model = verbs.add_parser("model", help="one model's versions and signatures")
    model.add_argument("name")
    parse = verbs.add_parser("parse", help="how the server reads a unit")
    parse.add_argument("expr")
    convert = verbs.add_parser("convert", help="convert a value between units")
    convert.add_argument("value", help="a number or comma-separated numbers")
    convert.add_argument("source", metavar="FROM")
    convert.add_argument("target", metavar="TO")
    verbs.add_parser("ready", help="exit 0 when the server is ready, 1 when not")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        with Client(
            args.url, api_key=args.api_key, protocol=args.protocol, timeout=args.timeout
        ) as client:
            return _run(client, args)
    except ServerError as exc:
        print(f"{exc.status} {exc.kind}: {exc.detail}", file=sys.stderr)
        return ExitCode.REFUSED
    except TransportError as exc:
        print(f"dimtensor-serve-client: no answer: {exc}", file=sys.stderr)
        return ExitCode.NO_ANSWER
    except ClientError as exc:  # an answer it cannot read or trust
        print(f"dimtensor-serve-client: {exc}", file=sys.stderr)
        return ExitCode.REFUSED
    except (ValueError, TypeError) as exc:  # the command line's values
        print(f"dimtensor-serve-client: {exc}", file=sys.stderr)
        return ExitCode.CONFIG


def _run(client: Client, args: argparse.Namespace) -> int:
    if args.verb == "predict":
        inputs = dict(_pair(text, "input", parse_quantity) for text in args.inputs)
        outputs = dict(_pair(text, "--out", str, optional=True) for text in args.out) or None
        prediction = client.predict(args.model, inputs, outputs, args.version)
        print(f"{prediction.model} version {prediction.version}")
        print(_outputs_table(dict(prediction)))
    elif args.verb == "models":
        print(_models_table(client.models()))
    elif args.verb == "model":
        print(_models_table([client.model(args.name)]))
    elif args.verb == "parse":
        unit = client.parse_unit(args.expr)
        for key in ("expression", "dimension", "scale", "offset", "si"):
            print(f"{key:<11}{getattr(unit, key)}")
    elif args.verb == "convert":
        values = [float(v) for v in args.value.split(",")]
        value = values if len(values) > 1 else values[0]
        converted = client.convert(value, args.source, args.target)
        print(f"{_numbers(np.asarray(converted.data))} {converted.unit.symbol}")
    elif not client.ready():
        print("not ready")
        return ExitCode.REFUSED
    else:
        print("ready")
    return ExitCode.OK


def _pair(text: str, role: str, read: Any, optional: bool = False) -> tuple[str, Any]:
    name, eq, rest = text.partition("=")
    if not name or (not eq and not optional):
        raise ValueError(f"{role} {text!r}: expected NAME=VALUE, e.g. speed=72km/h")
    return name, (read(rest) if eq else None)


def _outputs_table(outputs: dict[str, Any]) -> str:
    """One row per output when each is one value; else one row per batch row."""
    arrays = {name: np.asarray(q.data) for name, q in outputs.items()}
    units = {name: q.unit.symbol for name, q in outputs.items()}
    if all(a.ndim == 0 for a in arrays.values()):
        rows = [[n, _numbers(a), units[n]] for n, a in arrays.items()]
        return _table(["output", "value", "unit"], rows)
    count = max(len(a) if a.ndim else 1 for a in arrays.values())
    rows = [
        [str(i), *(_numbers(a[i] if a.ndim else a) for a in arrays.values())] for i in range(count)
    ]
    return _table(["row", *(f"{n} [{units[n]}]" for n in arrays)], rows)


def _models_table(models: list[ModelInfo]) -> str:
    return _table(["model", "version", "state", "inputs", "outputs"], _model_rows(models))


def _model_rows(models: list[ModelInfo]) -> list[list[str]]:
    def signature(tensors: tuple[TensorSpec, ...]) -> str:
        return ", ".join(f"{t.name} [{t.unit}]" for t in tensors)

    rows = []
    for m in models:
        for v in m.versions:
            default = " (default)" if v.version == m.default_version else ""
            outputs = signature(v.outputs) or v.reason or ""
            rows.append([m.name, v.version + default, v.state, signature(v.inputs), outputs])
    return rows


def _numbers(values: Any) -> str:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    return "[" + ", ".join(f"{float(v):.6g}" for v in arr.ravel()) + "]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )
