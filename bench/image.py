"""``python -m bench.image``: the CPU image's size, by component, and its time from start to ready.

One run, one machine, against baselines measured in the same run:

- size: the image as the engine reports it, the base image under it, and what the runtime
  holds by component (the Python interpreter and standard library, the rest of the base OS,
  torch, pyarrow, the rest of the venv), read with ``du``-like walks inside the image;
- start to ready: ``run --detach`` (the chart's options: read-only root, UID 10001, no
  capability) until ``/readyz`` answers 200, against the same server started outside any
  container (``python -m service`` from this checkout's venv, one worker, same settings).
  Median of ``--repeats`` starts of each.

The image must exist (``make image``); the engine is scripts/image.sh's.
"""

# ruff: noqa: S603, S607 - a benchmark driver: fixed argv of the engine and this Python
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.run import free_port

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "image.sh"
READY_SECONDS = 180

# Run inside the image: bytes per component, walking the file system once.
COMPONENTS = """
import json, os, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
stdlib = sysconfig.get_paths()["stdlib"]
def du(root):
    total = 0
    for here, dirs, files in os.walk(root):
        for f in files:
            try: total += os.lstat(os.path.join(here, f)).st_size
            except OSError: pass
    return total
python = du(stdlib) + sum(os.lstat(p).st_size for p in {os.path.realpath(sys.executable)})
torch = du(f"{site}/torch") + du(f"{site}/torch.libs") + du(f"{site}/torchgen")
pyarrow = du(f"{site}/pyarrow")
venv = du("/opt/venv")
system = sum(du(p) for p in ("/usr", "/etc", "/var", "/lib", "/bin", "/sbin") if os.path.isdir(p)
             and not os.path.islink(p))
print(json.dumps({"python": python, "torch": torch, "pyarrow": pyarrow,
                  "rest of the venv": venv - torch - pyarrow,
                  "rest of the base OS": system - python}))
"""


def script(*args: str) -> str:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout


def engine_env() -> dict[str, str]:
    """The environment scripts/image.sh gives the engine (CONTAINERS_CONF on this host)."""
    conf = REPO / ".tools" / "containers.conf"
    return {**os.environ, **({"CONTAINERS_CONF": str(conf)} if conf.exists() else {})}


def engine(*args: str) -> str:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=True, env=engine_env()
    ).stdout


def wait_ready(port: int, started: float) -> float:
    """Seconds from `started` until /readyz answers 200."""
    while time.monotonic() - started < READY_SECONDS:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"not ready within {READY_SECONDS} s")


def container_start(image: str) -> float:
    port, name = free_port(), f"bench-image-{uuid.uuid4().hex[:8]}"
    options = script("run-options").split()
    started = time.monotonic()
    engine(
        "run",
        "--detach",
        f"--name={name}",
        *options,
        f"--publish=127.0.0.1:{port}:8080",
        "--env=WEB_CONCURRENCY=1",
        image,
    )
    try:
        return wait_ready(port, started)
    finally:
        engine("rm", "--force", "--time=2", name)


def bare_start() -> float:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/prometheus",
            "HOME": tmp,
        }
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "service"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return wait_ready(port, started)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def sizes(image: str, base: str) -> dict[str, Any]:
    components = json.loads(engine("run", "--rm", "--entrypoint=python3", image, "-c", COMPONENTS))
    return {
        "image": int(engine("image", "inspect", "--format", "{{.Size}}", image)),
        "base": int(engine("image", "inspect", "--format", "{{.Size}}", base)),
        "components": components,
    }


def report(image: str, found: dict[str, Any], starts: dict[str, list[float]]) -> str:
    mb = 1e6
    lines = [
        f"Image `{image}`: {found['image'] / mb:,.0f} MB (base {found['base'] / mb:,.0f} MB)",
        "",
        "| component | MB | share |",
        "|---|---|---|",
    ]
    total = sum(found["components"].values())
    for name, size in sorted(found["components"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {size / mb:,.0f} | {size / total:.0%} |")
    lines += ["", "| start to ready | median s | runs | vs bare |", "|---|---|---|---|"]
    base = statistics.median(starts["bare (python -m service)"])
    for name, runs in starts.items():
        median = statistics.median(runs)
        lines.append(f"| {name} | {median:.2f} | {len(runs)} | {median / base:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", default=None, help="default: scripts/image.sh tag cpu")
    parser.add_argument("--base", default="docker.io/library/python:3.11-slim-bookworm")
    args = parser.parse_args(argv)
    image = args.image or script("tag", "cpu").strip()
    found = sizes(image, args.base)
    starts: dict[str, list[float]] = {"bare (python -m service)": [], "container": []}
    for _ in range(args.repeats):  # interleaved: a slow minute hurts both alike
        starts["bare (python -m service)"].append(bare_start())
        starts["container"].append(container_start(image))
    print(report(image, found, starts))


if __name__ == "__main__":
    main()
