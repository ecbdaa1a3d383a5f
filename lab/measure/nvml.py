"""NVIDIA GPU energy through NVML (`pynvml`, from the nvidia-ml-py package).

Three sources, best first:

- `NvmlEnergy`: the board's total-energy counter (mJ), Volta and newer.
- `NvmlPowerSampling`: older GPUs: board power (mW) sampled every ~10 ms and
  integrated. Some boards report power averaged over up to 1 s, which smears
  a window's edges; long windows keep that small.
- `GpuUtilizationEstimate`: no power reading either: GPU utilization (%) x TDP.
  Not a measurement; `assumption` says which TDP and where it came from.

All of them measure the whole board (every process on it), never the host CPU.
Every `nvml` argument is the pynvml module, injectable for tests.
"""
from __future__ import annotations

import re
import time
from typing import Callable, NamedTuple

from lab.measure.energy_source import WINDOW_UPDATES, EnergySource, EnergyUnavailable, one_line, positive
from lab.measure.sampling import SampledEnergy

__all__ = ["GpuTdp", "GPU_TDP", "NvmlGpu", "NvmlEnergy", "NvmlPowerSampling", "GpuUtilizationEstimate"]

# nvmlDeviceGetUtilizationRates reports the share of the last sample period
# (1/6 s to 1 s, by product) in which a kernel ran: it changes at most this often.
UTILIZATION_PERIOD_S = 1 / 6


class GpuTdp(NamedTuple):
    pattern: str  # regex, searched case-insensitively in the NVML device name
    tdp_w: float  # per GPU (a two-GPU board's TDP is halved)
    source: str


# Used only when NVML has no default power limit for the board. Pre-Volta
# boards, since Volta and newer have the energy counter.
GPU_TDP: tuple[GpuTdp, ...] = (
    GpuTdp(r"Tesla K80", 150, "NVIDIA K80 datasheet: 300 W per board of 2 GPUs"),
    GpuTdp(r"Tesla M60", 150, "NVIDIA M60 datasheet: 300 W per board of 2 GPUs"),
    GpuTdp(r"Tesla M40", 250, "NVIDIA M40 datasheet"),
    GpuTdp(r"Tesla P4\b", 75, "NVIDIA P4 datasheet"),
    GpuTdp(r"Tesla P40", 250, "NVIDIA P40 datasheet"),
    GpuTdp(r"Tesla P100.*PCIE", 250, "NVIDIA P100 datasheet"),
    GpuTdp(r"Tesla P100.*SXM2", 300, "NVIDIA P100 datasheet"),
    GpuTdp(r"GTX 1080 Ti", 250, "NVIDIA product page"),
    GpuTdp(r"GTX 1080(?! Ti)", 180, "NVIDIA product page"),
    GpuTdp(r"GTX 1070(?! Ti)", 150, "NVIDIA product page"),
)


class NvmlGpu:
    """One GPU opened through NVML; `call` turns NVML errors into EnergyUnavailable."""

    def __init__(self, device_index: int = 0, nvml=None):
        try:
            if nvml is None:
                import pynvml as nvml  # from nvidia-ml-py
        except ImportError as exc:
            raise EnergyUnavailable(f"NVML unavailable: cannot import pynvml ({exc})") from None
        self.nvml, self.index = nvml, device_index
        self.error = getattr(nvml, "NVMLError", Exception)
        try:
            # nvmlInit is reference-counted and cheap; we never shut it down
            # because other code in the process (torch) may be using it too.
            nvml.nvmlInit()
            self.handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        except self.error as exc:
            raise EnergyUnavailable(f"NVML unavailable: {one_line(exc)}") from None
        try:  # the name is only for notes and the TDP table; never a reason to give up
            name = nvml.nvmlDeviceGetName(self.handle)
            self.name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        except Exception:
            self.name = ""
        self.label = f"GPU {device_index}" + (f" ({self.name})" if self.name else "")

    def power_limit_w(self) -> float | None:
        """The board's power cap (W): the enforced limit, else the management limit, else
        the default limit; None when NVML reports none. Averaged over a window of a
        second or more, board power stays under it (the driver throttles to it)."""
        for function in ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit",
                         "nvmlDeviceGetPowerManagementDefaultLimit"):
            try:
                mw = self.call(function, "power limit")
            except EnergyUnavailable:
                continue
            if positive(mw):
                return mw / 1000.0  # mW -> W
        return None

    def call(self, function: str, what: str):
        """nvml.<function>(handle); EnergyUnavailable('NVML <what> not readable: ...') if it fails."""
        fn = getattr(self.nvml, function, None)
        if fn is None:
            raise EnergyUnavailable(f"NVML {what} not readable: this pynvml has no {function}")
        try:
            return fn(self.handle)
        except self.error as exc:
            raise EnergyUnavailable(f"NVML {what} not readable: {one_line(exc)}") from None


class NvmlEnergy(EnergySource):
    """NVIDIA GPU total-energy counter (Volta+), in joules.

    `device_index` is NVML's index, which ignores CUDA_VISIBLE_DEVICES
    (`choose_source` maps torch's index for you).
    """

    name = "nvml"
    update_interval_s = 0.01  # the counter refreshes about every 10 ms
    min_window_s = WINDOW_UPDATES * update_interval_s

    def __init__(self, device_index: int = 0, nvml=None, *, reason: str = ""):
        self._gpu = NvmlGpu(device_index, nvml)
        self.reason = reason
        self.read_joules()  # pre-Volta GPUs fail here (NotSupported), not mid-sweep
        self.max_power_w = self._gpu.power_limit_w()
        self.note = (f"nvml: total-energy counter of {self._gpu.label}; whole board, "
                     "all processes on it; host CPU not included")

    def read_joules(self) -> float:
        mj = self._gpu.call("nvmlDeviceGetTotalEnergyConsumption", "energy counter")
        return mj / 1000.0  # millijoules -> joules


class NvmlPowerSampling(SampledEnergy):
    """Board power (mW from nvmlDeviceGetPowerUsage) sampled every `period_s` and
    integrated (trapezoid rule), in joules. For GPUs without the energy counter."""

    name = "nvml"

    def __init__(self, device_index: int = 0, nvml=None, *, period_s: float = 0.01, reason: str = "",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
                 background: bool = True):
        self._gpu = NvmlGpu(device_index, nvml)
        self._gpu.call("nvmlDeviceGetPowerUsage", "power reading")  # fail here, not mid-window
        super().__init__(self._watts, period_s=period_s, clock=clock, sleep=sleep, background=background)
        self.max_power_w = self._gpu.power_limit_w()
        self.reason = reason
        self.note = (f"nvml: power of {self._gpu.label} sampled every {self.period_s * 1e3:g} ms and "
                     "integrated (no energy counter on this GPU); whole board, all processes on it; "
                     "host CPU not included")
        if reason:
            self.note += f"; {reason}"

    def _watts(self) -> float:
        return self._gpu.call("nvmlDeviceGetPowerUsage", "power reading") / 1000.0  # mW -> W


class GpuUtilizationEstimate(SampledEnergy):
    """Estimate (J): integral of GPU utilization (0-1) x TDP (W), sampled every `period_s`.

    TDP: `tdp_w` if given, else NVML's default power limit, else `GPU_TDP`.
    Idle power is not included, and a GPU running one small kernel counts as
    fully busy: utilization is the share of time any kernel ran, not load.
    """

    name = "estimate"

    def __init__(self, device_index: int = 0, nvml=None, *, tdp_w: float | None = None,
                 period_s: float = 0.02, reason: str = "",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
                 background: bool = True):
        self._gpu = NvmlGpu(device_index, nvml)
        self.tdp_w, tdp_source = self._tdp(tdp_w)
        self.max_power_w = self.tdp_w  # utilization (0-1) x TDP cannot exceed it
        self._utilization()  # fail here, not mid-window
        super().__init__(self._watts, period_s=period_s, clock=clock, sleep=sleep, background=background)
        # Sampling faster than NVML updates utilization does not make it finer.
        self.update_interval_s = max(self.period_s, UTILIZATION_PERIOD_S)
        self.min_window_s = WINDOW_UPDATES * self.update_interval_s
        self.reason = reason
        self.assumption = (f"GPU utilization x {self.tdp_w:g} W TDP ({tdp_source}); idle power not included; "
                           "any running kernel counts as full load")
        self.note = (f"estimate: utilization of {self._gpu.label} sampled every {self.period_s * 1e3:g} ms "
                     f"x {self.tdp_w:g} W TDP; host CPU not included")
        if reason:
            self.note += f"; {reason}"

    def _tdp(self, tdp_w: float | None) -> tuple[float, str]:
        if tdp_w is not None:
            if not positive(tdp_w):
                raise ValueError(f"tdp_w must be a positive number of watts, got {tdp_w!r}")
            return float(tdp_w), "given by the caller (tdp_w)"
        try:
            mw = self._gpu.call("nvmlDeviceGetPowerManagementDefaultLimit", "default power limit")
            if positive(mw):
                return mw / 1000.0, f"NVML default power limit of {self._gpu.label}"
        except EnergyUnavailable:
            pass  # boards without power management: try the table
        for row in GPU_TDP:
            if re.search(row.pattern, self._gpu.name, re.IGNORECASE):
                return float(row.tdp_w), row.source
        raise EnergyUnavailable(f"no TDP for {self._gpu.label}: NVML has no power limit and the "
                                "name is not in the table")

    def _utilization(self) -> float:
        """GPU utilization now, 0-1."""
        rates = self._gpu.call("nvmlDeviceGetUtilizationRates", "utilization")
        return float(rates.gpu) / 100.0  # percent -> fraction

    def _watts(self) -> float:
        return self._utilization() * self.tdp_w
