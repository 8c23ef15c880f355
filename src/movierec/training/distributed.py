"""Training in several processes: torchrun starts them, DistributedDataParallel keeps their weights equal.

The ``train`` stage runs in one process unless ``train.processes`` asks for more: it then starts itself again
under ``torchrun --standalone`` on this machine. Across machines, start the stage under torchrun yourself
(``torchrun --nnodes=2 --nproc_per_node=N --rdzv-endpoint=HOST:PORT stages/train.py ...`` on each): a stage
that finds itself under torchrun never starts it again. Processes talk over gloo on CPU and NCCL on GPUs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

import torch
import torch.distributed as dist

from movierec.errors import MovieRecError

DEVICES = ("auto", "cpu", "cuda")


def under_torchrun() -> bool:
    """True in a process that torchrun (or another launcher with its environment variables) started."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def resolve_device(device: str) -> str:
    """``auto`` | ``cpu`` | ``cuda`` -> the torch device of this process (``cuda:<local rank>`` on GPUs)."""
    if device not in DEVICES:
        raise MovieRecError(f"train.device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise MovieRecError("train.device is cuda but torch sees no CUDA device: set train.device to auto or cpu")
        return f"cuda:{local_rank() % torch.cuda.device_count()}"
    return device


def needs_launch(processes: int) -> bool:
    """Whether the stage must start torchrun for ``processes`` training processes (not when under it already)."""
    if processes < 1:
        raise MovieRecError(f"train.processes must be 1 or more, not {processes}")
    return processes > 1 and not under_torchrun()


def relaunch(processes: int, script: str, argv: list[str]) -> int:
    """Run ``script argv`` in ``processes`` processes on this machine under torchrun; its exit status."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", script, *argv]
    return subprocess.call(cmd)


@contextlib.contextmanager
def process_group(device: str) -> Iterator[tuple[int, int]]:
    """``(rank, world size)``; under torchrun, joins the process group for the length of the block."""
    if not under_torchrun():
        yield 0, 1
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend)
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def threads_per_process(threads: int) -> int:
    """CPU threads for each of this machine's training processes, out of ``threads`` for the stage."""
    if not under_torchrun() or threads <= 0:
        return threads
    return max(1, threads // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
