"""The machine a run computes on: the banner every run prints first, a warning when a GPU is
present but JAX runs on the CPU, and the memory one device and the host offer (the limits the
memory preflight of :mod:`rsim.core.memory` checks a cell's block and its result table
against).

Memory of a device: ``RSIM_MEMORY_LIMIT`` when set (bytes, or with a unit: ``512M``,
``24G``, ``24GiB``; K, M, G, T are powers of 1024), else what its allocator may still hand out
(``memory_stats()``: ``bytes_limit - bytes_in_use``, GPUs), else, on the CPU, the available
RAM (``MemAvailable`` of /proc/meminfo, or free pages from ``os.sysconf``).

Memory of the host (the process's own arrays: a result table): on the CPU backend the
device's memory is the host's, so the same limit; on an accelerator the available RAM
(``RSIM_MEMORY_LIMIT`` is the device's there). Either way at most the address space that
``RLIMIT_AS`` (``ulimit -v``) still leaves the process.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rsim.checks import ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import jax

MEMORY_LIMIT_ENV = "RSIM_MEMORY_LIMIT"
# How a GPU box gets the CUDA build of jax (README, "GPU box").
CUDA_INSTALL = "pip install -e '.[cuda12]'"
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
# Address space a run maps beyond its arrays after the preflight (the compiler, thread stacks,
# glibc's malloc arenas of 64 MiB each, up to 8 per CPU): 1.13-1.23 GiB measured on CPU with
# 2 CPUs and 23-25 threads (VmSize at the preflight to VmPeak of a 1000-sample cell), while
# the resident memory grew 0.13-0.2 GiB; more CPUs may map more. Kept out of what RLIMIT_AS
# leaves the arrays.
ADDRESS_SPACE_RESERVE = 2 * 2**30
_announced = False


def size_text(n_bytes: float) -> str:
    """``79.1 GiB``, ``12.3 MiB``, ``512 B``: three significant digits, powers of 1024.

    Args:
        n_bytes: a size in bytes.

    Returns:
        The size in words.

    Example:
        >>> size_text(512), size_text(3 * 2**20), size_text(80 * 10**9)
        ('512 B', '3 MiB', '74.5 GiB')
    """
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{int(n_bytes)} B"


def parse_size(text: str) -> int:
    """Bytes of ``text``: ``1000000``, ``512M``, ``24G``, ``24GB``, ``24GiB`` (1024-based).

    Args:
        text: the size, as ``RSIM_MEMORY_LIMIT`` gives it.

    Returns:
        The size in bytes.

    Raises:
        ConfigError: ``text`` is not a size.

    Example:
        >>> parse_size("512M"), parse_size("1.5k"), parse_size("24GiB") == 24 * 2**30
        (536870912, 1536, True)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise ConfigError(
            f"{MEMORY_LIMIT_ENV}={text!r} is not a size; give bytes or a number with a unit "
            "(512M, 24G, 24GiB)"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def device_memory(device: jax.Device) -> int | None:
    """Bytes the device's allocator may still hand out, or None (the CPU reports none).

    Args:
        device: a jax device.

    Returns:
        The allocator's limit less what is in use, or None.
    """
    try:
        stats = device.memory_stats()
    except Exception:  # backends without allocator statistics
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def _available_ram() -> int:
    """Bytes of RAM available to a new allocation (MemAvailable), or the free pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class MemoryLimit:
    """The memory a block may use: ``bytes`` and where the number comes from (``source``)."""

    bytes: int
    source: str  # for messages: "RSIM_MEMORY_LIMIT", "available RAM", "allocator limit of ..."


def memory_limit() -> MemoryLimit:
    """The memory one local device offers a block (the smallest over the local devices).

    ``RSIM_MEMORY_LIMIT`` when set; else the allocator's limit where every device reports
    one (GPUs); else the available RAM.

    Returns:
        The :class:`MemoryLimit`.

    Raises:
        ConfigError: ``RSIM_MEMORY_LIMIT`` is not a size.
    """
    text = os.environ.get(MEMORY_LIMIT_ENV)
    if text:
        return MemoryLimit(parse_size(text), MEMORY_LIMIT_ENV)
    import jax

    devices = jax.local_devices()
    limits = [device_memory(device) for device in devices]
    if all(limit is not None for limit in limits):
        return MemoryLimit(min(limits), f"allocator limit of {devices[0].device_kind}")
    return MemoryLimit(_available_ram(), "available RAM")


def _address_space_room() -> int | None:
    """Bytes the process's arrays may still map under ``RLIMIT_AS`` (``ulimit -v``): the soft
    limit less what it maps now (VmSize of /proc/self/status) and less
    :data:`ADDRESS_SPACE_RESERVE`; None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - mapped - ADDRESS_SPACE_RESERVE)


def host_memory_limit() -> MemoryLimit:
    """The memory the host offers this process's own arrays (see the module doc): on the CPU
    backend :func:`memory_limit`, else the available RAM; the smaller of that and
    :func:`_address_space_room`.

    Returns:
        The :class:`MemoryLimit`.
    """
    import jax

    if jax.default_backend() == "cpu":
        limit = memory_limit()
    else:
        limit = MemoryLimit(_available_ram(), "available RAM")
    room = _address_space_room()
    if room is not None and room < limit.bytes:
        reserve = size_text(ADDRESS_SPACE_RESERVE)
        return MemoryLimit(room, f"what ulimit -v leaves, less {reserve} for the compiler")
    return limit


def _device_label(device: jax.Device) -> str:
    label = str(device) if device.platform == "cpu" else device.device_kind
    memory = device_memory(device)
    return label if memory is None else f"{label} ({size_text(memory)})"


def banner() -> str:
    """``jax 0.10.2, backend cpu, 1 device: cpu:0``; on a GPU, e.g.
    ``jax 0.10.2, backend gpu, 1 device: NVIDIA H100 80GB HBM3 (N GiB)``, N the memory
    its allocator may hand out.

    Returns:
        The line a run logs first (``rsim: jax ...`` on the terminal).

    Example:
        >>> banner().startswith("jax ")
        True
    """
    import jax

    devices = jax.local_devices()
    labels = [_device_label(device) for device in devices]
    if len(set(labels)) == 1 and len(labels) > 1:
        listed = f"{len(labels)} x {labels[0]}"
    else:
        listed = ", ".join(labels)
    plural = "device" if len(devices) == 1 else "devices"
    return (
        f"jax {jax.__version__}, backend {jax.default_backend()}, {len(devices)} {plural}: {listed}"
    )


def visible_gpus() -> list[str]:
    """The GPU names ``nvidia-smi`` lists, or [] (no nvidia-smi, no driver, no GPU).

    Returns:
        One name per GPU.
    """
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        proc = subprocess.run(
            [executable, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def cuda_warning() -> str | None:
    """One line when nvidia-smi lists a GPU but JAX's backend is the CPU (a CPU-only jax was
    installed), unless ``JAX_PLATFORMS=cpu`` asks for the CPU on purpose.

    Returns:
        The warning, or None.
    """
    import jax

    if jax.default_backend() != "cpu" or os.environ.get("JAX_PLATFORMS", "").lower() == "cpu":
        return None
    gpus = visible_gpus()
    if not gpus:
        return None
    names = ", ".join(sorted(set(gpus)))
    plural = "GPU" if len(gpus) == 1 else "GPUs"
    return (
        f"nvidia-smi lists {len(gpus)} {plural} ({names}) but JAX runs on the "
        f"CPU; install the CUDA jax: {CUDA_INSTALL} (README: GPU box)"
    )


def announce() -> None:
    """Log the banner (INFO: stdout under the CLI) and the CUDA warning (WARNING: stderr)
    once per process."""
    global _announced
    if _announced:
        return
    _announced = True
    # The job's log level (conf/config.yaml, job_logging), also in a driver that Hydra logs
    # at INFO: JAX's notes on absent backends ("Unable to initialize backend 'tpu'") stay out.
    logging.getLogger("jax").setLevel(logging.WARNING)
    log.info("%s", banner())
    warning = cuda_warning()
    if warning:
        log.warning("%s", warning)
