"""What each piece of the operations layer costs per request, measured in process.

``python -m bench.middleware``: builds the app on the embedded default models, calls it
as an ASGI app (no sockets, no wrk) with the same 1-row ``/predict`` body, and prints
microseconds per request for the full stack, the stack without each middleware in turn,
and no user middleware at all. In-process numbers leave out uvicorn and multiprocess
metric files, so they rank the parts; the wrk runs of ``python -m bench`` give totals.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

import orjson

BODY = orjson.dumps(
    {
        "model": "projectile",
        "inputs": {
            "speed": {"value": 72, "unit": "km/h"},
            "angle": {"value": 45, "unit": "deg"},
            "g": {"value": 9.81, "unit": "m/s^2"},
        },
    }
)


def _scope(app: Any) -> dict[str, Any]:
    return {
        "type": "http", "method": "POST", "path": "/predict", "raw_path": b"/predict",
        "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
        "server": ("bench", 80), "client": ("bench", 1), "app": app,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode())],
    }  # fmt: skip


async def per_request_us(app: Any, requests: int) -> float:
    """Mean microseconds for one 1-row /predict through `app` (after a warm-up)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    for _ in range(max(100, requests // 10)):
        await app(_scope(app), receive, send)
    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(app), receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def main(requests: int) -> None:
    from service.logs import JsonFormatter, lean_records
    from service.models import ModelRepository, default_repository_path
    from service.rest.app import create_app
    from service.settings import Settings

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives for the run
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    lean_records()  # as service/gunicorn_conf.py does in the server
    app = create_app(Settings(), repository=ModelRepository.load(default_repository_path()))
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - lives for the run
    app.state.access_log.sink = devnull.write  # the access lines are formatted, not shown
    stack = list(app.user_middleware)

    async def measure(label: str, middleware: list[Any]) -> None:
        app.user_middleware = middleware
        app.middleware_stack = app.build_middleware_stack()
        print(f"| {label} | {await per_request_us(app, requests):.1f} |")

    await per_request_us(app, requests)  # a first full pass runs slower: caches, allocator
    print("| stack | us per request |\n|---|---|")
    await measure("full (as shipped)", stack)
    for i, layer in enumerate(stack):
        name = getattr(layer.cls, "__name__", str(layer.cls))
        await measure(f"without {name}", stack[:i] + stack[i + 1 :])
    await measure("no user middleware", [])
    await measure("full again (drift check)", stack)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    asyncio.run(main(parser.parse_args().requests))
