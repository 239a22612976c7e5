"""One process or many: PyTorch's own distributed engine, started as Kubernetes users start it.

Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``
set by it, itself reading Kubeflow's ``PET_*`` contract) the processes join one group: gloo on
CPU, nccl on CUDA. Without them the run is a world of one and no group is made.

Gradients are averaged with one ``all_reduce`` per step rather than through
``DistributedDataParallel``: a PINN differentiates its network with respect to its inputs
twice (``create_graph=True``) before the backward pass, which DDP's gradient hooks do not
support; averaging after ``backward()`` gives DDP's result (every rank holds the same
parameters and applies the mean gradient of the global batch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import torch
import torch.distributed as dist

__all__ = ["World", "join"]


@dataclass(frozen=True)
class World:
    """This process's place: rank, world size, device."""

    rank: int
    size: int
    device: torch.device

    @property
    def leader(self) -> bool:
        """Rank 0: the only one that writes checkpoints, metrics and the export."""
        return self.rank == 0

    @property
    def grouped(self) -> bool:
        return self.size > 1

    def average(self, tensors: list[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks (in place)."""
        if not self.grouped or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.size
        offset = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a SIGTERM seen by any rank)."""
        if not self.grouped:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def barrier(self) -> None:
        if self.grouped:
            dist.barrier()

    def leave(self) -> None:
        if self.grouped and dist.is_initialized():
            dist.destroy_process_group()


def join(device: Literal["auto", "cpu", "cuda"]) -> World:
    """This process's world, from torchrun's environment (a world of one without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local)
        where = torch.device("cuda", local)
    else:
        where = torch.device("cpu")
    if size > 1:
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            rank=rank,
            world_size=size,
            timeout=timedelta(minutes=10),
        )
    return World(rank, size, where)
