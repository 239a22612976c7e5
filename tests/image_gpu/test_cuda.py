"""CUDA in the GPU image without a GPU: every CUDA library torch and its nvidia-* wheels ship is
loaded for real (a missing dependency fails here, not on a GPU node), torch is the CUDA build,
and each CUDA library is in the image once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.images import run_job

# Loads every ELF shared object under torch/lib, nvidia/ and cuda/ (the bindings) with the
# dynamic loader, as torch does when it needs one (cuDNN, NVRTC and cuBLASLt are loaded lazily,
# on first use): what fails, and why. The driver (libcuda.so.1, libnvidia-ml.so.1) comes from
# the node, mounted by the NVIDIA container toolkit, so a library that needs it fails here by
# design.
LOAD_EVERY_LIBRARY = """
import ctypes, json, os, sysconfig
import torch
site = sysconfig.get_paths()["purelib"]
loaded, failed = [], {}
for root in ("torch/lib", "nvidia", "cuda"):
    for folder, _, files in sorted(os.walk(os.path.join(site, root))):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if ".so" not in name or os.path.islink(path):
                continue
            with open(path, "rb") as f:
                if f.read(4) != b"\\x7fELF":
                    continue
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError as exc:
                failed[path] = str(exc)
            else:
                loaded.append(path)
print(json.dumps({
    "cuda": torch.version.cuda,
    "torch": torch.__version__,
    "cudnn": torch.backends.cudnn.version(),
    "loaded": loaded,
    "failed": failed,
}))
"""

# Every CUDA library file in the image, wherever it lies (root's file system but /proc, /sys).
CUDA_FILES = r"""
import os, re
family = re.compile(r"^lib(cu|nv|nccl|cupti|checkpoint|pcsamplingutil)")
for top in ("/usr", "/opt", "/lib", "/lib64", "/home"):
    for folder, _, files in os.walk(top):
        for name in files:
            if family.match(name) and ".so" in name:
                print(os.path.join(folder, name))
"""

DRIVER = ("libcuda.so.1", "libnvidia-ml.so.1")
# What NVSHMEM's and cuFile's optional transports and bootstraps load only when a node's fabric
# is configured for them (InfiniBand verbs, MPI, PMIx, OpenSHMEM, libfabric, UCX): the node's
# libraries, like the driver. Seen missing in this image, nothing else was.
HOST_FABRIC = (
    "libmlx5.so.1",
    "libmpi.so.40",
    "libpmix.so.2",
    "liboshmem.so.40",
    "libfabric.so.1",
    "libucs.so.0",
)
# What torch links or loads on a GPU (NEEDED of libtorch_cuda.so, and cuDNN's, NCCL's and
# NVRTC's lazy loads): each must be among the libraries that loaded.
EXPECTED = (
    "torch/lib/libtorch_cuda.so",
    "libcudart.so.13",
    "libcublas.so.13",
    "libcublasLt.so.13",
    "libcudnn.so.9",
    "libcufft.so.12",
    "libcurand.so.10",
    "libcusolver.so.12",
    "libcusparse.so.12",
    "libnccl.so.2",
    "libnvrtc.so.13",
    "libnvJitLink.so.13",
)


@pytest.fixture(scope="module")
def libraries(image: str) -> dict[str, Any]:
    result = run_job(image, ["-c", LOAD_EVERY_LIBRARY], entrypoint="python3")
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().split("\n")[-1])
    return found


def test_torch_is_the_cuda_build_with_cudnn(libraries: dict[str, Any]) -> None:
    assert libraries["cuda"] == "13.0", libraries["torch"]
    assert libraries["cudnn"] >= 90000, libraries["cudnn"]


def test_every_cuda_library_loads_but_for_want_of_the_nodes_driver_or_fabric(
    libraries: dict[str, Any],
) -> None:
    host = DRIVER + HOST_FABRIC
    broken = {
        path: why
        for path, why in libraries["failed"].items()
        if not any(f"{name}: cannot open" in why for name in host)
    }
    assert broken == {}, json.dumps(broken, indent=1)
    assert len(libraries["loaded"]) > 30, "too few libraries loaded to mean anything"


@pytest.mark.parametrize("name", EXPECTED)
def test_what_torch_needs_on_a_gpu_is_there_and_loads(libraries: dict[str, Any], name: str) -> None:
    assert any(path.endswith("/" + name) for path in libraries["loaded"]), (
        f"{name} is not among the loaded libraries: {sorted(libraries['failed'])}"
    )


def test_each_cuda_library_is_in_the_image_once(image: str) -> None:
    """One copy of CUDA: no library in two folders (triton's CUDA 12 CUPTI was one)."""
    result = run_job(image, ["-c", CUDA_FILES], entrypoint="python3")
    assert result.returncode == 0, result.stderr
    folders: dict[str, set[str]] = {}
    for path in result.stdout.split():
        folder, name = path.rsplit("/", 1)
        folders.setdefault(re.sub(r"\.so(\.[0-9.]+)?$", "", name), set()).add(folder)
    twice = {stem: sorted(where) for stem, where in folders.items() if len(where) > 1}
    assert twice == {}, twice
    assert "libcudart" in folders, sorted(folders)
