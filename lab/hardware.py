"""What this machine has: devices, CPU model, thread control, and the
environment fingerprint stored beside every result row.

Nothing here changes the hardware: threads are set for a measurement and put
back afterwards; GPU clocks and power limits are never touched.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch

from lab.version import MEASUREMENT_VERSION, __version__


def cpu_count() -> int:
    """Cores this process may run on (affinity-aware, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    """The CPU's marketing name, e.g. 'AMD EPYC', or platform.processor()."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def available_devices() -> list[str]:
    """Device strings this machine can run: 'cpu', 'cuda:N' for each GPU, 'mps'."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def normalize_device(device: str) -> str:
    """'cuda' -> 'cuda:0', 'box/cuda' -> 'box/cuda:0'; everything else unchanged (validation is Config's job)."""
    from lab.cluster import names  # reads names only: never imports ray

    return names.normalize(device)


def device_name(device: str) -> str:
    """Human name of a device: the CPU model for 'cpu', the GPU's name for CUDA ('absent' where this
    machine has no such device: a row for it records why it was not measured)."""
    if device.startswith("cuda"):
        if normalize_device(device) not in available_devices():
            return "absent"
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return f"Apple MPS ({platform.machine()})"
    return cpu_model()


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the body with torch's intra-op thread count set to ``n``; restore it after.

    Recording the thread count matters: torch.utils.benchmark.Timer defaults to
    one thread, so a comparison that forgets this compares different things.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.lru_cache(maxsize=None)
def git_sha() -> str:
    """The lab checkout's commit, with '-dirty' when it has local changes; 'unknown' outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha[:12] + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# The fields that make two environments "the same" for resuming: a different
# torch, device or measuring code may change the numbers, so it is measured again.
# The lab version and git sha are recorded but not part of the identity: they change
# with every release and commit, and re-measuring a whole grid after a README edit
# helps nobody; MEASUREMENT_VERSION changes when the measuring code does.
_IDENTITY_FIELDS = ("torch_version", "device_name", "cpu_model", "measurement_version", "hostname")


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
        return round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def gpu_limits(nvml_index: int, nvml=None) -> dict:
    """A GPU's power limit (W) and clocks (MHz), read through NVML, for display only.

    The lab never sets clocks or power limits; it shows them because they decide
    what a GPU measurement means (a power-capped board is slower and cheaper).
    Returns {} when NVML is missing; a field NVML refuses is left out.
    """
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByIndex(nvml_index)
    except Exception:  # no library, no driver, no such GPU: nothing to show
        return {}
    reads = {
        "power_limit_w": lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000,
        "sm_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM),
        "max_sm_clock_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM),
        "memory_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM),
    }
    limits = {}
    for key, read in reads.items():
        try:
            limits[key] = read()
        except Exception:  # NotSupported on some boards (and under MIG): leave it out
            pass
    return limits


def describe() -> dict:
    """What ``python -m lab env`` shows: versions, and each device with its name, memory and cores."""
    devices = [{"device": "cpu", "name": cpu_model(), "memory_gib": _memory_gib(), "cores": cpu_count(),
                "default_threads": cpu_count()}]
    for device in available_devices()[1:]:
        entry = {"device": device, "name": device_name(device)}
        if device.startswith("cuda"):
            props = torch.cuda.get_device_properties(torch.device(device))
            entry["memory_gib"] = round(props.total_memory / 2**30, 1)
            entry["capability"] = f"{props.major}.{props.minor}"
            entry["cores"] = props.multi_processor_count  # streaming multiprocessors
            entry.update(gpu_limits(int(device.partition(":")[2] or 0)))
        devices.append(entry)
    return {"lab_version": __version__, "git_sha": git_sha(), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "platform": platform.platform(),
            "cpu_model": cpu_model(), "torch_threads": torch.get_num_threads(), "devices": devices}


def environment(device: str = "cpu") -> dict:
    """The environment fingerprint stored beside every row measured on ``device``."""
    env = {
        "torch_version": torch.__version__,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_count": cpu_count(),
        "lab_version": __version__,
        "measurement_version": MEASUREMENT_VERSION,
        "git_sha": git_sha(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
    }
    if device.startswith("cuda"):
        env["cuda_version"] = torch.version.cuda or "unknown"
    env["env_id"] = environment_id(env)
    return env


def environment_id(env: dict) -> str:
    """Stable short hash of the fields that decide whether a stored row can be reused."""
    # A cluster node's environment names its node (lab.cluster): two nodes on one kind of machine
    # are two environments. Only then, so that this machine's env_ids stay what they were.
    fields = _IDENTITY_FIELDS + (("node",) if env.get("node") else ())
    key = json.dumps({k: env.get(k) for k in fields}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]
