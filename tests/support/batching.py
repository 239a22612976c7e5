"""The micro-batcher's test kit, shared by the batching specifications (test_batching.py,
test_batching_policy.py): a repository with a toy model and its twin, data planes with and
without a batcher, requests and their hypothesis strategy, answers compared within float32
rounding, and barriers (a gate in the forward pass, a runner that reports each hand-over) that
replace sleeps.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from service.batching import Batcher, BatchPolicy
from service.dataplane import DataPlane, PredictRequest, PredictResult, QuantityIn
from service.models import LoadedModel, ModelRepository, default_repository_path
from service.tensors import FloatArray
from service.units import conversion
from tests.support.models import mlp_manifest, state_dict_for, write_model

# float32 GEMM may sum in another order for another batch size: a few float32 ulps of the
# model's output scale (O(1) in the model's unit), so the absolute part is in the model's
# unit and scales with the conversion to the unit asked for.
RTOL = 1e-5
ATOL = 1e-6


def toy_repository(root: Path) -> ModelRepository:
    """A repository in `root`: the embedded analytic projectile plus a learned toy MLP (a [m],
    b [s] x2 -> out [m] x2) and its twin ``toy2``: the same signature with other weights, so
    rows of one forwarded through the other would stack without error and answer wrong."""
    write_model(root, mlp_manifest("toy"))
    write_model(root, mlp_manifest("toy2"), state_dict_for(mlp_manifest("toy2"), seed=7))
    for name in ("projectile",):
        src = default_repository_path() / name
        for path in src.rglob("*"):
            if path.is_file():
                dst = root / path.relative_to(default_repository_path())
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(path.read_bytes())
    return ModelRepository.load(root)


def unbatched(repository: ModelRepository) -> DataPlane:
    return DataPlane(repository, default_model="toy")


def batched(repository: ModelRepository, **policy: Any) -> DataPlane:
    return DataPlane(repository, default_model="toy", batcher=Batcher(BatchPolicy(**policy)))


def toy(a: Any, b: Any, out_unit: str | None = None, *, model: str = "toy") -> PredictRequest:
    return PredictRequest(
        inputs={"a": QuantityIn(a, "km"), "b": QuantityIn(b, "ms")},
        model=model,
        outputs={"out": out_unit} if out_unit else None,
    )


async def gather(plane: DataPlane, requests: list[PredictRequest]) -> list[PredictResult]:
    return list(await asyncio.gather(*(plane.predict_async(r) for r in requests)))


def same(a: PredictResult, b: PredictResult, *, exact: bool, model: LoadedModel) -> None:
    assert (a.model, a.version, a.rows, a.batched) == (b.model, b.version, b.rows, b.batched)
    assert a.outputs.keys() == b.outputs.keys()
    model_units = dict(zip(a.outputs, model.output_units, strict=True))
    for name, out in a.outputs.items():
        ref = b.outputs[name]
        assert out.unit.expression == ref.unit.expression
        assert out.values.shape == ref.values.shape
        if exact:
            np.testing.assert_array_equal(out.values, ref.values)
        else:
            factor, _ = conversion(model_units[name], out.unit)
            atol = ATOL * abs(factor)
            np.testing.assert_allclose(out.values, ref.values, rtol=RTOL, atol=atol)


finite = st.floats(-100, 100, allow_nan=False)
rows = st.lists(finite, min_size=1, max_size=4)


@st.composite
def toy_requests(draw: st.DrawFn) -> PredictRequest:
    """1-row scalars or a batch of rows, outputs in the model's unit or another."""
    if draw(st.booleans()):
        a: Any = draw(finite)
        b: Any = [draw(finite), draw(finite)]
    else:
        n = draw(st.integers(1, 4))
        a = draw(st.lists(finite, min_size=n, max_size=n))
        b = draw(st.lists(st.lists(finite, min_size=2, max_size=2), min_size=n, max_size=n))
    return toy(a, b, draw(st.sampled_from([None, "m", "mm", "ft"])))


class Gate:
    """Blocks the toy model's forward passes until opened (a full queue, on demand).

    ``entered`` is set by a forward pass as it reaches the gate: awaiting :meth:`reached`
    is the barrier for "a request is inside the (blocked) forward pass", with no guess at
    how long that takes. A gate left shut fails its pass instead of hanging the test.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.open = threading.Event()
        self.entered = threading.Event()
        self.original = model.predict
        self.passes: list[list[float]] = []  # the first input's values of each pass

    def __enter__(self) -> Gate:
        def gated(inputs: Any) -> Any:
            self.passes.append([float(x) for x in inputs[0]])
            self.entered.set()
            if not self.open.wait(timeout=30):
                raise TimeoutError("the test never opened the gate")
            return self.original(inputs)

        self.model.predict = gated  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.open.set()
        del self.model.predict

    async def reached(self) -> None:
        """Return once a forward pass waits at the gate (its request has left the queue)."""
        assert await asyncio.to_thread(self.entered.wait, 30), "no forward pass reached the gate"


class Handed:
    """A ``ForwardRunner`` around a :class:`Batcher` that reports each request handed to it.

    ``Batcher.run`` queues a request (or refuses it) before its first ``await``; the report
    is put before that call, and the task awaiting :meth:`arrivals` resumes only on a later
    loop turn, by which time the request is queued or refused. The barrier for "these
    requests are in the queue", without a sleep.
    """

    def __init__(self, batcher: Batcher) -> None:
        self.batcher = batcher
        self._handed: asyncio.Queue[None] | None = None

    @property
    def handed(self) -> asyncio.Queue[None]:
        if self._handed is None:  # created on the running loop
            self._handed = asyncio.Queue()
        return self._handed

    def run(
        self, model: LoadedModel, batch: Sequence[FloatArray], rows: int
    ) -> Coroutine[Any, Any, tuple[list[FloatArray], float]]:
        self.handed.put_nowait(None)
        return self.batcher.run(model, batch, rows)

    async def arrivals(self, count: int) -> None:
        """Return once ``count`` more requests have been handed to the batcher."""
        for _ in range(count):
            await self.handed.get()


def handed_plane(repository: ModelRepository, **policy: Any) -> tuple[DataPlane, Handed]:
    runner = Handed(Batcher(BatchPolicy(**policy)))
    return DataPlane(repository, default_model="toy", batcher=runner), runner
