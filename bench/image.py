"""``python -m bench.image``: an image's size, by component, and its time from start to ready,
for the CPU image, the GPU image or both (``--variant cpu gpu``).

One run, one machine, against baselines measured in the same run:

- size: the image as the engine reports it, the base image under it, and what the runtime
  holds by component (the Python interpreter and standard library, the rest of the base OS,
  torch, CUDA (torch's nvidia-* wheels and the CUDA bindings: GPU image), pyarrow, the rest of
  the venv), read with ``du``-like walks inside the image;
- start to ready: ``run --detach`` (the chart's options: read-only root, UID 10001, no
  capability) until ``/readyz`` answers 200, against the same server started outside any
  container (``python -m service`` from this checkout's venv, one worker, same settings).
  Median of ``--repeats`` starts of each. The GPU image starts with ``ALLOW_CPU_FALLBACK=true``
  (no GPU here): the same start, on the CPU, as on a GPU node but for CUDA's initialisation.

The images must exist (``make image``, ``make image-gpu``); the engine is scripts/image.sh's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from harness.containers import engine, image_sh, run_detached
from harness.ports import free_port
from harness.server import NotReadyError, server_env, serving, start, wait_ready

__all__ = ["main"]

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
cuda = du(f"{site}/nvidia") + du(f"{site}/cuda")
pyarrow = du(f"{site}/pyarrow")
venv = du("/opt/venv")
system = sum(du(p) for p in ("/usr", "/etc", "/var", "/lib", "/bin", "/sbin") if os.path.isdir(p)
             and not os.path.islink(p))
found = {"python": python, "torch": torch, "CUDA libraries": cuda, "pyarrow": pyarrow,
         "rest of the venv": venv - torch - cuda - pyarrow, "rest of the base OS": system - python}
print(json.dumps({name: size for name, size in found.items() if size}))
"""


# What each variant's container is started with beyond the chart's options: the GPU image
# would refuse to start without a GPU.
START_ENV = {"cpu": [], "gpu": ["--env=ALLOW_CPU_FALLBACK=true"]}


def container_start(image: str, variant: str) -> float:
    """Seconds from ``run --detach`` (the chart's options, one worker) to ready. The wait
    polls only ``/readyz``: asking the engine about the container on each poll would take
    the cores the start is measured on."""
    options = image_sh("run-options").split()
    box = run_detached(
        image,
        *options,
        "--env=WEB_CONCURRENCY=1",
        *START_ENV[variant],
        port=free_port(),
        prefix="bench-image",
    )
    try:
        return wait_ready(box.url(), started=box.started, timeout=READY_SECONDS, interval=0.02)
    finally:
        box.remove(grace=2)


def bare_start() -> float:
    """Seconds from ``python -m service`` (this checkout's venv, one worker, harness's server
    environment) to ready."""
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        root = Path(tmp)
        env = server_env(root, free_port(), workers=1)
        with serving(start(root, env), timeout=READY_SECONDS, interval=0.02, stop_timeout=60) as s:
            return s.ready_s


def sizes(image: str, base: str) -> dict[str, Any]:
    run = engine().check
    components = json.loads(run("run", "--rm", "--entrypoint=python3", image, "-c", COMPONENTS))
    return {
        "image": int(run("image", "inspect", "--format", "{{.Size}}", image)),
        "base": int(run("image", "inspect", "--format", "{{.Size}}", base)),
        "components": components,
    }


def report(found: dict[str, dict[str, Any]], starts: dict[str, list[float]]) -> str:
    mb = 1e6
    lines = []
    for image, sized in found.items():
        lines += [
            f"Image `{image}`: {sized['image'] / mb:,.0f} MB (base {sized['base'] / mb:,.0f} MB)",
            "",
            "| component | MB | share |",
            "|---|---|---|",
        ]
        total = sum(sized["components"].values())
        for name, size in sorted(sized["components"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {size / mb:,.0f} | {size / total:.0%} |")
        lines.append("")
    lines += ["| start to ready | median s | runs | vs bare |", "|---|---|---|---|"]
    base = statistics.median(starts[BARE])
    for name, runs in starts.items():
        median = statistics.median(runs)
        lines.append(f"| {name} | {median:.2f} | {len(runs)} | {median / base:.2f}x |")
    return "\n".join(lines)


BARE = "bare (python -m service)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--variant",
        nargs="+",
        choices=sorted(START_ENV),
        default=["cpu"],
        help="the images to measure (scripts/image.sh tag VARIANT), in one run",
    )
    parser.add_argument("--base", default="docker.io/library/python:3.11-slim-bookworm")
    args = parser.parse_args(argv)
    images = {variant: image_sh("tag", variant).strip() for variant in args.variant}
    found = {image: sizes(image, args.base) for image in images.values()}
    starts: dict[str, list[float]] = {
        name: [] for name in [BARE, *(f"container ({v})" for v in images)]
    }
    try:
        for _ in range(args.repeats):  # interleaved: a slow minute hurts all alike
            starts[BARE].append(bare_start())
            for variant, image in images.items():
                starts[f"container ({variant})"].append(container_start(image, variant))
    except NotReadyError as e:
        raise SystemExit(f"not ready: {e}") from None
    print(report(found, starts))


if __name__ == "__main__":
    main()
