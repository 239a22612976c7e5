"""The batch door: columns of rows in the config's units -> the one prediction core -> columns.

The third door over ``service.dataplane.DataPlane``, after native REST and OIP. Like them it
only translates: a chunk of rows becomes a ``PredictRequest`` (one array per input, with the
unit the config or the file gave), ``DataPlane.predict`` makes every unit check, conversion and
refusal the server makes, and the answer's arrays become output columns. Errors keep the
core's words and gain the rows they concern; the CLI turns them into exit codes.

Validity domains: when the model declares one and its policy is ``flag``, every row gets a
boolean ``outside_domain`` column and an ``outside_domain_inputs`` column (the inputs
outside, comma-separated; null inside), both from the core's flags; under ``refuse`` the
first row outside stops the job with the core's message (exit code of bad input data).

Output columns have the dtype the model computes in (``LoadedModel.dtype``, float32 for the
server's architectures), unless the job widens them to float64 (``output_dtype``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from batch.parts import OUTSIDE, OUTSIDE_INPUTS
from jobkit.errors import ConfigError, InputDataError
from jobkit.parquet import Column
from service.dataplane import DataPlane, PredictRequest, QuantityIn
from service.errors import ServiceError
from service.models import BoolArray, LoadedModel
from service.tensors import FloatArray, ModelArray
from service.units import ParsedUnit

__all__ = ["OUTSIDE", "OUTSIDE_INPUTS", "BatchDoor", "Scored"]


@dataclass(frozen=True, slots=True)
class Scored:
    """One chunk's outputs by name, and its rows outside the domain by input."""

    outputs: dict[str, ModelArray]
    outside: dict[str, BoolArray]


class BatchDoor:
    """One model of the repository, checked once against the job's units, scoring chunks.

    Args:
        dataplane: the core, over the same repository the server loads.
        model, version: as the config names them (version None: the latest ready one).
        input_units: model input -> the unit of its values (None: the model's own unit).
        outputs: output -> unit asked for (omitted: the model's unit).
        output_dtype: the outputs' dtype: the model's own, or "float64".
    """

    def __init__(
        self,
        dataplane: DataPlane,
        model: str,
        version: str | None,
        input_units: Mapping[str, str | None],
        outputs: Mapping[str, str] | None,
        output_dtype: Literal["model", "float64"] = "model",
    ) -> None:
        self.dataplane = dataplane
        try:
            self.model: LoadedModel = dataplane.check_signature(
                model, version, input_units, outputs
            )
        except ServiceError as exc:
            raise ConfigError(exc.message) from None
        shaped = [
            s.name for s in (*self.model.manifest.inputs, *self.model.manifest.outputs) if s.shape
        ]
        if shaped:
            raise ConfigError(
                f"model {model!r}: tensor {shaped[0]!r} has a per-row shape; batch jobs take "
                "models whose every input and output is one number per row"
            )
        self.input_units = dict(input_units)
        self.outputs = dict(outputs or {})
        self.policy = dataplane.policy_for(self.model)
        # The flag columns exist when rows can be flagged: a domain, and policy "flag".
        self.flags = self.model.domain is not None and self.policy == "flag"
        self.dtype: np.dtype[Any] = (
            self.model.dtype if output_dtype == "model" else np.dtype(np.float64)
        )

    @property
    def output_type(self) -> pa.DataType:
        """The Arrow type of every output column."""
        return pa.from_numpy_dtype(self.dtype)

    def domain_columns(self) -> list[Column]:
        """The flag columns every row of this job carries (none: nothing is flagged)."""
        if not self.flags:
            return []
        return [Column(OUTSIDE, pa.bool_()), Column(OUTSIDE_INPUTS, pa.string())]

    def identity(self) -> dict[str, object]:
        """What the rows depend on beyond the config: the domain policy, when the model
        has a domain (parts written under another policy have other columns)."""
        return {} if self.model.domain is None else {"domain_policy": self.policy}

    def domain_arrays(self, scored: Scored, rows: int) -> list[pa.Array]:
        """The flag columns of one chunk (``domain_columns``' order)."""
        if not self.flags:
            return []
        any_outside = np.zeros(rows, dtype=bool)
        names = np.full(rows, None, dtype=object)
        for name, mask in scored.outside.items():  # declaration order
            names[mask] = [name if n is None else f"{n},{name}" for n in names[mask]]
            any_outside |= mask
        return [pa.array(any_outside), pa.array(names, type=pa.string())]

    @property
    def output_units(self) -> dict[str, ParsedUnit]:
        """Each output's unit in the answer: the one asked for, else the model's."""
        units: dict[str, ParsedUnit] = {}
        for spec, unit in zip(self.model.manifest.outputs, self.model.output_units, strict=True):
            wanted = self.outputs.get(spec.name)
            units[spec.name] = unit if wanted is None else self.dataplane.parse(wanted)
        return units

    def score(self, columns: Mapping[str, FloatArray], first_row: int) -> Scored:
        """The model's outputs for one chunk of rows, and its rows outside the domain
        (``first_row``: the chunk's first row number, for messages)."""
        request = PredictRequest(
            {name: QuantityIn(columns[name], unit) for name, unit in self.input_units.items()},
            model=self.model.name,
            version=self.model.version,
            outputs=self.outputs or None,
            protocol="batch",
        )
        try:
            result = self.dataplane.predict(request)
        except ServiceError as exc:
            raise InputDataError(_located(exc, first_row)) from None
        outputs = {
            name: out.values.astype(self.dtype, copy=False) for name, out in result.outputs.items()
        }
        return Scored(outputs, result.outside)


def _located(exc: ServiceError, first_row: int) -> str:
    """The core's message with the row it concerns (its index is within the chunk)."""
    index = exc.details.get("row", exc.details.get("index"))
    if isinstance(index, int):
        return f"row {first_row + index}: {exc.message}"
    return f"rows from {first_row}: {exc.message}"
