"""The machine a plan is made for: its device, cores and memory, and what a timing of real
training steps on it measured."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30

GPU_MEMORY_UNKNOWN = 8 * GIB
"""GPU memory assumed when `nvidia-smi` cannot tell (the smallest of today's training GPUs)."""


@dataclass(frozen=True)
class Machine:
    """Where training runs.

    Attributes:
        device: str. "cpu" or "gpu".
        name: str. The processor or GPU model, e.g. "AMD EPYC 7B13" or "NVIDIA H100 80GB HBM3".
        devices: int. GPUs training together (1 on a CPU).
        cores: int. CPU cores this process may use.
        memory_bytes: int. Memory of one device: the host's RAM on a CPU, one GPU's memory on a GPU.
    """

    device: str
    name: str
    devices: int
    cores: int
    memory_bytes: int

    def describe(self) -> str:
        """"this CPU (AMD EPYC 7B13, 2 cores, 23 GiB)" or "1 GPU (NVIDIA H100, 80 GiB)"."""
        memory = f"{self.memory_bytes / GIB:.0f} GiB"
        if self.device == "cpu":
            return f"this CPU ({self.name}, {self.cores} cores, {memory})"
        return f"{self.devices} GPU{'s' if self.devices > 1 else ''} ({self.name}, {memory} each)"


@dataclass(frozen=True)
class StepTiming:
    """What `tfseg.plan.time_training_steps` measured.

    Attributes:
        train_seconds: float. Mean time of one training step after the first.
        epoch_seconds: float. What an epoch costs besides its training steps: the pass over
            the validation split and the run's end-of-epoch callbacks (history, best and last
            checkpoints, saved state, TensorBoard scalars and images), as training runs them.
        start_seconds: float. Building and compiling the model, and its first (traced) step.
        steps: int. Training steps timed.
        what: str. What was timed, e.g. "batch 8 of 96x128x3, mixed_bfloat16_convs".
    """

    train_seconds: float
    epoch_seconds: float
    start_seconds: float
    steps: int
    what: str


def _cpu_name() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what `platform` says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine() or "unknown CPU"


def _host_memory() -> int:
    """Bytes of RAM (POSIX sysconf; 8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 8 * GIB


def _gpu_memory() -> int:
    """Bytes of memory of the first GPU, from `nvidia-smi` (GPU_MEMORY_UNKNOWN without it)."""
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
        return int(float(output.split()[0]) * 2**20)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return GPU_MEMORY_UNKNOWN


def this_machine() -> Machine:
    """The machine this process trains on: its GPUs as TensorFlow sees them, else its CPU."""
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return Machine("gpu", name, len(gpus), cores, _gpu_memory())
    return Machine("cpu", _cpu_name(), 1, cores, _host_memory())
