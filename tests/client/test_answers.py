"""How answers are read: every output's dimension checked against the declared signature,
fields a newer server adds kept rather than refused, and a unit other than the one asked
for converted. A scripted server (httpx.MockTransport) says what a real one would not."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from service.client import AnswerError, Client, OutputDimensionError

SIGNATURE = {
    "name": "toy",
    "default_version": "1",
    "versions": [
        {
            "name": "toy",
            "version": "1",
            "state": "ready",
            "inputs": [
                {"name": "x", "unit": "m", "dimension": "length", "exponents": {}, "shape": []}
            ],
            "outputs": [
                {"name": "y", "unit": "s", "dimension": "time", "exponents": {}, "shape": []}
            ],
        }
    ],
}


def serving(answer: dict[str, Any]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models/toy":
            return httpx.Response(200, content=orjson.dumps(SIGNATURE))
        assert request.url.path == "/predict"
        return httpx.Response(200, content=orjson.dumps(answer))

    return Client("http://test", transport=httpx.MockTransport(handle))


def answer(unit: str, **extra: Any) -> dict[str, Any]:
    output = {"value": [1.5, 2.5], "unit": unit, "dimension": "?", **extra.pop("output", {})}
    return {"model": "toy", "version": "1", "outputs": {"y": output}, **extra}


def test_an_output_of_another_dimension_is_refused() -> None:
    with pytest.raises(OutputDimensionError, match=r"'y' came back in 'kg' \(mass\).*'s' \(time\)"):
        serving(answer("kg")).predict("toy", {"x": (1, "m")})


def test_an_output_the_signature_does_not_list_is_refused() -> None:
    doc = answer("s")
    doc["outputs"]["z"] = doc["outputs"]["y"]
    with pytest.raises(AnswerError, match="'z' is not in the signature"):
        serving(doc).predict("toy", {"x": (1, "m")})


def test_unknown_fields_are_kept_not_refused() -> None:
    doc = answer("s", domain=[True, False], output={"out_of_domain": [0, 1]})
    prediction = serving(doc).predict("toy", {"x": ([1, 2], "m")})
    assert prediction.extras == {"domain": [True, False]}
    assert prediction.output_extras == {"y": {"out_of_domain": [0, 1]}}
    assert np.asarray(prediction["y"].data).tolist() == [1.5, 2.5]


def test_an_answer_in_another_unit_than_asked_is_converted() -> None:
    prediction = serving(answer("min")).predict("toy", {"x": (1, "m")}, outputs={"y": "s"})
    assert prediction["y"].unit.symbol == "s"
    assert np.asarray(prediction["y"].data).tolist() == [90.0, 150.0]


def test_a_value_without_a_unit_never_leaves() -> None:
    client = serving(answer("s"))
    for bad in (1.0, [1.0, 2.0], np.ones(2), ("1", "m", "extra")):
        with pytest.raises(TypeError, match=r"needs its unit|expected a DimArray"):
            client.predict("toy", {"x": bad})
