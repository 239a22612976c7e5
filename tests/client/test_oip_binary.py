"""Over OIP, an input goes as the binary tensor data extension when its raw bytes are
shorter than its JSON, and answers then come back binary: transparently, and enough to
carry a batch whose JSON is over the server's body limit."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest
from dimtensor import DimArray
from dimtensor import units as u

from service.client import BodyTooLargeError, Client
from service.client._wire import BINARY_HEADER, infer_body, read_infer
from tests.support.client_server import KEY
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.slow

RNG = np.random.default_rng(1)
OPT = orjson.OPT_SERIALIZE_NUMPY
ROWS = RNG.uniform(1, 50, 40_000)
ANGLES = RNG.uniform(10, 80, ROWS.size)
GS = RNG.uniform(9.7, 9.9, ROWS.size)


class Recording(httpx.HTTPTransport):
    """The real transport, remembering each request's and response's headers and size."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((request, response))
        return response


def infer_exchanges(transport: Recording) -> list[tuple[httpx.Request, httpx.Response]]:
    return [(q, r) for q, r in transport.seen if q.url.path.endswith("/infer")]


def client(server: ServerProcess, protocol: str, transport: Recording) -> Client:
    return Client(server.url, api_key=KEY, protocol=protocol, transport=transport)  # type: ignore[arg-type]


def big_inputs() -> dict[str, DimArray]:
    return {
        "speed": DimArray(ROWS, u.km / u.hour),
        "angle": DimArray(ANGLES, u.degree),
        "g": DimArray(GS, u.m / u.s**2),
    }


def test_a_batch_over_the_body_limit_as_json_goes_binary(server: ServerProcess) -> None:
    with client(server, "native", Recording()) as native, pytest.raises(BodyTooLargeError):
        native.predict("projectile", big_inputs())
    transport = Recording()
    with client(server, "oip", transport) as oip:
        answer = oip.predict("projectile", big_inputs(), outputs={"range": "km"})
    [(request, response)] = infer_exchanges(transport)
    assert request.headers["content-type"] == "application/octet-stream"
    head = int(request.headers[BINARY_HEADER])
    assert len(request.content) - head == 3 * ROWS.size * 8  # three float64 tensors
    assert BINARY_HEADER.lower() in response.headers  # answered binary too
    want = (ROWS / 3.6) ** 2 * np.sin(np.radians(2 * ANGLES)) / GS / 1000
    got = np.asarray(answer["range"].data)
    assert got.shape == ROWS.shape
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert answer["range"].unit.symbol == "km"


def test_a_single_row_stays_json(server: ServerProcess) -> None:
    transport = Recording()
    with client(server, "oip", transport) as oip:
        oip.predict(
            "projectile", {"speed": (72, "km/h"), "angle": (45, "deg"), "g": (9.81, "m/s^2")}
        )
    [(request, response)] = infer_exchanges(transport)
    assert request.headers["content-type"] == "application/json"
    assert BINARY_HEADER not in request.headers
    assert response.headers["content-type"] == "application/json"


def test_each_input_takes_the_shorter_form() -> None:
    """Zeros are shorter in JSON ("0.0," is 4 bytes, a float64 8): per input, not per body."""
    zeros = np.zeros(100)
    noisy = np.random.default_rng(2).uniform(size=100)
    body, headers = infer_body({"a": (zeros, "m"), "b": (noisy, "s")}, None)
    head = int(headers[BINARY_HEADER])
    import orjson

    doc = orjson.loads(body[:head])
    a, b = doc["inputs"]
    assert a["data"] == [0.0] * 100
    assert "binary_data_size" not in a["parameters"]
    assert b["parameters"]["binary_data_size"] == 800
    assert "data" not in b
    assert np.frombuffer(body[head:], dtype="<f8").tolist() == noisy.tolist()
    assert doc["parameters"] == {"binary_data_output": True}


def test_a_binary_answer_whose_sizes_do_not_add_up_is_refused() -> None:
    from service.client import AnswerError

    head = (
        b'{"model_name":"m","model_version":"1","outputs":[{"name":"x","shape":[2],'
        b'"datatype":"FP64","parameters":{"unit":"m","binary_data_size":16}}]}'
    )
    ok = read_infer(head + np.array([1.0, 2.0]).tobytes(), {BINARY_HEADER.lower(): str(len(head))})
    assert ok.outputs["x"].values.tolist() == [1.0, 2.0]
    with pytest.raises(AnswerError, match="binary_data_size 16"):
        read_infer(head + b"\0" * 8, {BINARY_HEADER.lower(): str(len(head))})


def test_an_fp32_answer_reads_the_same_from_json_and_binary() -> None:
    """The client reads an output in the datatype it declares, then widens it: the JSON
    text of a float32 and its four bytes give the same float64 values."""
    values = np.array([35.324, 0.1, 3.4e38], dtype=np.float32)
    tensor = {"name": "x", "shape": [3], "datatype": "FP32", "parameters": {"unit": "m"}}
    doc = {"model_name": "m", "model_version": "1", "outputs": [tensor]}
    as_json = orjson.dumps({**doc, "outputs": [{**tensor, "data": values}]}, option=OPT)
    assert b"[35.324,0.1,3.4e+38]" in as_json
    binary = {**tensor, "parameters": {"unit": "m", "binary_data_size": 12}}
    head = orjson.dumps({**doc, "outputs": [binary]})
    from_json = read_infer(as_json, {}).outputs["x"].values
    from_binary = read_infer(head + values.tobytes(), {BINARY_HEADER.lower(): str(len(head))})
    assert from_json.dtype == np.float64
    assert from_json.tolist() == from_binary.outputs["x"].values.tolist() == values.tolist()
