"""hardware: the GPU limits shown by `lab env` come from NVML, read-only, and are left out when refused."""
from lab import hardware


class FakeNvml:
    NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2

    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.calls = []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def _read(self, name, value):
        self.calls.append(name)
        if name in self.refuse:
            raise RuntimeError("Not Supported")
        return value

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return self._read("power", 350_000)  # milliwatts

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return self._read("clock", 1755 if clock == self.NVML_CLOCK_SM else 2619)

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return self._read("max_clock", 1980)

    # Setters exist on the real module; the lab must never call them.
    def nvmlDeviceSetPowerManagementLimit(self, handle, milliwatts):
        self.calls.append("set_power_limit")

    def nvmlDeviceSetGpuLockedClocks(self, handle, low, high):
        self.calls.append("set_locked_clocks")


def test_gpu_limits_reads_power_in_watts_and_clocks_in_mhz():
    limits = hardware.gpu_limits(0, nvml=FakeNvml())
    assert limits == {"power_limit_w": 350.0, "sm_clock_mhz": 1755, "max_sm_clock_mhz": 1980,
                      "memory_clock_mhz": 2619}


def test_a_refused_field_is_left_out_and_the_rest_kept():
    limits = hardware.gpu_limits(0, nvml=FakeNvml(refuse={"power"}))
    assert "power_limit_w" not in limits and limits["sm_clock_mhz"] == 1755


def test_no_nvml_gives_nothing_rather_than_failing():
    class Missing:
        def nvmlInit(self):
            raise OSError("NVML Shared Library Not Found")

    assert hardware.gpu_limits(0, nvml=Missing()) == {}


def test_no_setter_is_ever_called():
    fake = FakeNvml()
    hardware.gpu_limits(0, nvml=fake)
    assert fake.calls and not any(name.startswith("set") for name in fake.calls)
