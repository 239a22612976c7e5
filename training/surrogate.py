"""A surrogate fitted to a Parquet dataset whose columns carry their units (a batch sweep's
output as it stands), so sweep -> train -> serve is one path.

The units come from the schema (field metadata ``unit``, as ``dimtensor-batch`` writes it);
every value is converted to coherent SI once, before training, and the exported model
declares SI units (the server converts whatever a client sends). Two architectures:

- ``mlp``: inputs and outputs normalised by the training rows' mean and spread;
- ``pi_group_mlp``: dimtensor's ``buckingham_pi`` finds the dimensionless groups of the
  inputs (what the network sees) and, per output, the monomial of the inputs that carries the
  output's dimension (the analytic scale the network's answer multiplies), so the model
  cannot learn a relation that breaks dimensional homogeneity.

The whole table is read into memory: surrogate datasets are sweeps (thousands to millions of
rows of a few columns), not the files ``dimtensor-batch predict`` streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from dimtensor.analysis import buckingham_pi

from jobkit.errors import ConfigError
from jobkit.parquet import PRE_BUFFER, Column
from service.errors import ServiceError
from service.models.architectures import MLPParams, PiGroupMLPParams
from service.models.nets import MLP, PiGroupMLP
from service.units import ParsedUnit, parse_unit
from training.config import SurrogateJob
from training.task import Panel, Port, Signature

__all__ = ["SurrogateTask", "pi_exponents"]


def _column_units(path: Path, schema: pa.Schema, names: list[str]) -> list[ParsedUnit]:
    units = []
    for name in names:
        if name not in schema.names:
            raise ConfigError(f"data {path}: no column {name!r}; received {schema.names}")
        field = schema.field(name)
        text = Column.from_field(field).unit
        if text is None:
            raise ConfigError(
                f"data {path}: column {name!r} has no unit in its schema; expected a Parquet "
                "file whose fields carry a 'unit' (as dimtensor-batch writes them)"
            )
        if not (pa.types.is_floating(field.type) or pa.types.is_integer(field.type)):
            raise ConfigError(f"data {path}: column {name!r} is {field.type}; expected numbers")
        try:
            units.append(parse_unit(text))
        except ServiceError as exc:
            raise ConfigError(f"data {path}: column {name!r}: {exc.message}") from None
    return units


def pi_exponents(
    inputs: dict[str, ParsedUnit], outputs: dict[str, ParsedUnit]
) -> tuple[list[list[float]], list[list[float]]]:
    """(groups of the inputs, scale of each output) as exponent rows over the inputs, from
    dimtensor's ``buckingham_pi``; refused when there is no group or no scale."""
    dims = {name: unit.dimension for name, unit in inputs.items()}
    names = list(inputs)
    found_groups = buckingham_pi(dims)["pi_groups"]
    groups = [[float(g.exponents.get(n, 0)) for n in names] for g in found_groups]
    if not groups:
        raise ConfigError(
            f"pi_group_mlp: the inputs {names} form no dimensionless group (their dimensions "
            "are independent); use architecture: mlp"
        )
    scales = []
    for out, unit in outputs.items():
        found = None
        for group in buckingham_pi({**dims, out: unit.dimension})["pi_groups"]:
            power = Fraction(group.exponents.get(out, 0))
            if power != 0:
                found = [float(-Fraction(group.exponents.get(n, 0)) / power) for n in names]
                break
        if found is None:
            raise ConfigError(
                f"pi_group_mlp: no product of powers of the inputs {names} has the dimension "
                f"of output {out!r} ({unit.dimension_name}); use architecture: mlp"
            )
        scales.append(found)
    return groups, scales


class SurrogateTask:
    """The dataset, its split, the network and its loss; the held-out rows' error is its
    quality (``training.task.TrainingTask``)."""

    def __init__(self, config: SurrogateJob) -> None:
        path = Path(config.data)
        if not path.is_file():
            raise ConfigError(f"data {path}: no such file")
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"data {path}: cannot read it as Parquet: {exc}") from None
        self.config = config
        self.path = path
        self.in_units = _column_units(path, schema, config.inputs)
        self.out_units = _column_units(path, schema, config.outputs)
        table = pq.ParquetFile(path, pre_buffer=PRE_BUFFER).read(
            columns=config.inputs + config.outputs
        )
        raw = {n: np.asarray(table[n].to_numpy(), dtype=np.float64) for n in config.inputs}
        # Where the data lies, in the data's own units (the exported domain): every row,
        # the held-out ones included, min and max exactly as stored.
        self.ranges = {n: (float(v.min()), float(v.max())) for n, v in raw.items() if v.size}
        x = np.stack(
            [u.to_si(raw[n]) for n, u in zip(config.inputs, self.in_units, strict=True)],
            axis=1,
        )
        y = np.stack(
            [
                u.to_si(table[n].to_numpy())
                for n, u in zip(config.outputs, self.out_units, strict=True)
            ],
            axis=1,
        )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ConfigError(f"data {path}: non-finite values in the training columns")
        held_out = np.arange(len(x)) % config.validation_every == 0
        if held_out.all() or not held_out.any():
            raise ConfigError(f"data {path}: {len(x)} rows are too few to hold some out")
        self.x, self.y = (
            torch.from_numpy(x[~held_out]).float(),
            torch.from_numpy(y[~held_out]).float(),
        )
        self.x_val, self.y_val = x[held_out], y[held_out]
        self.architecture, self.module = self._network(config)
        self.y_spread = self.y.std(dim=0).clamp_min(1e-12)

    def _network(self, config: SurrogateJob) -> tuple[dict[str, Any], torch.nn.Module]:
        net = config.network
        if config.architecture == "mlp":
            params: MLPParams | PiGroupMLPParams = MLPParams(
                in_features=len(config.inputs),
                out_features=len(config.outputs),
                hidden=list(net.hidden),
                activation=net.activation,
                normalize=True,
            )
            module = params.build()
            assert isinstance(module, MLP)  # noqa: S101 - the registry's contract
            _fit_norms(module, self.x, self.y)
        else:
            if config.pi is not None:
                groups, scales = config.pi.groups, config.pi.scales
            else:
                groups, scales = pi_exponents(
                    dict(zip(config.inputs, self.in_units, strict=True)),
                    dict(zip(config.outputs, self.out_units, strict=True)),
                )
            params = PiGroupMLPParams(
                group_exponents=groups,
                scale_exponents=scales,
                scale_constants=config.pi.constants if config.pi else None,
                hidden=list(net.hidden),
                activation=net.activation,
                normalize=True,
            )
            module = params.build()
            assert isinstance(module, PiGroupMLP)  # noqa: S101 - the registry's contract
            with torch.no_grad():
                _fit_norms(module.mlp, module.groups(self.x), self.y / module.scales(self.x))
        spec = {"name": config.architecture, "params": params.model_dump(mode="json")}
        return spec, module

    def batch(self, step: int, size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(len(self.x), (size,), generator=generator)

    def grid(self) -> torch.Tensor:
        return torch.arange(len(self.x))

    def loss_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        device = next(self.module.parameters()).device
        rows = batch.cpu()
        x, y = self.x[rows].to(device), self.y[rows].to(device)
        spread = y if self.config.loss == "relative" else self.y_spread.to(device)
        error = (self.module(x) - y) / spread
        return {"data": torch.mean(error**2)}

    def describe(self) -> str:
        return f"surrogate {self.config.architecture} on {self.config.data}"

    def quality(self) -> dict[str, float]:
        """The relative error on the held-out rows, at its largest and on average."""
        with torch.no_grad():
            got = self.module.cpu()(torch.from_numpy(self.x_val).float()).numpy().astype(np.float64)
        relative = np.abs(got - self.y_val) / np.maximum(np.abs(self.y_val), 1e-300)
        return {
            "max_relative_error": float(relative.max()),
            "mean_relative_error": float(relative.mean()),
        }

    def signature(self) -> Signature:
        """The exported inputs and outputs: the columns' names, in coherent SI units (a
        column already in one, such as 'rad' or 'm/s^2', keeps its spelling)."""
        return Signature(
            tuple(
                Port(n, _si_spelling(u))
                for n, u in zip(self.config.inputs, self.in_units, strict=True)
            ),
            tuple(
                Port(n, _si_spelling(u))
                for n, u in zip(self.config.outputs, self.out_units, strict=True)
            ),
        )

    def trained_domain(self) -> dict[str, dict[str, Any]]:
        """Each input's validity domain for the manifest: the data's range, in the data
        column's unit (the config's inputs are the file's columns)."""
        return {
            name: {"lower": low, "upper": high, "unit": unit.expression}
            for (name, (low, high)), unit in zip(self.ranges.items(), self.in_units, strict=True)
            if low < high
        }

    def describe_domain(self) -> str:
        x = self.x.numpy()
        ranges = ", ".join(
            f"{n} in [{x[:, i].min():.4g}, {x[:, i].max():.4g}] {_si_spelling(u)}"
            for i, (n, u) in enumerate(zip(self.config.inputs, self.in_units, strict=True))
        )
        return f"Surrogate fitted to {self.path.name}; valid where it was trained: {ranges}"

    def panels(self) -> Sequence[Panel]:
        """None of its own: a surrogate's figure is its loss curves."""
        return ()


def _fit_norms(mlp: MLP, x: torch.Tensor, y: torch.Tensor) -> None:
    """The network's input and output normalisation from the training rows."""
    if mlp.input_norm is None or mlp.output_norm is None:
        raise TypeError("the surrogate's MLP is built with normalize=True")
    with torch.no_grad():
        mlp.input_norm.shift.copy_(x.mean(dim=0))
        mlp.input_norm.scale.copy_(x.std(dim=0).clamp_min(1e-12))
        mlp.output_norm.shift.copy_(y.mean(dim=0))
        mlp.output_norm.scale.copy_(y.std(dim=0).clamp_min(1e-12))


def _si_spelling(unit: ParsedUnit) -> str:
    """The unit the exported model declares: the column's own when it is coherent SI
    (scale 1, no offset), else the coherent SI unit of its dimension."""
    return unit.expression if unit.scale == 1.0 and not unit.offset else unit.si_expression
