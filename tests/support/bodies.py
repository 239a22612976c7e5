"""What the operations tests send, in process and to a real server: a body per protocol
for the embedded ``projectile`` model (each answered with 200), and Content-Length values
that are not a length."""

from __future__ import annotations

import json

PREDICT = json.dumps(
    {
        "inputs": {
            "speed": {"value": 20, "unit": "m/s"},
            "angle": {"value": 45, "unit": "deg"},
            "g": {"value": 9.80665, "unit": "m/s^2"},
        }
    }
).encode()
INFER = json.dumps(
    {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP64", "data": [v], "parameters": {"unit": u}}
            for n, v, u in (("speed", 20, "m/s"), ("angle", 45, "deg"), ("g", 9.80665, "m/s^2"))
        ]
    }
).encode()

NOT_A_LENGTH: list[bytes] = [
    b"abc",
    b"-1",
    b"1e3",
    b"",
    b"0x10",
    b"+5",
    b"1,1",  # a list: RFC 9110 lets a server accept "1,1" as 1 (h11 does), so not over the wire
    b"1.0",
    "٣".encode(),  # an Arabic-Indic digit: a digit to str.isdigit, not to HTTP
    b"\xb2",  # latin-1 superscript two
    b"99999999999999999999999",  # past 2**64
    b"9" * 5000,  # digits, but past int()'s 4300-digit limit (a ValueError, a 500)
]
