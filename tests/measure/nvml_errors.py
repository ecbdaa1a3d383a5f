"""The shared NVML fakes: pynvml's exception classes as the fakes raise them (the real ones need the
library to import), and ``FakeNvml``, a pynvml whose energy counter steps a known amount per read."""


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self):
        return "NVML Shared Library Not Found"


class NVMLError_NotSupported(NVMLError):
    def __str__(self):
        return "Not Supported"


class FakeNvml:
    """pynvml stand-in: the energy counter (mJ) steps `step_mj` on every read."""

    NVMLError = NVMLError

    def __init__(self, step_mj=500, init_error=None, energy_error=None, start_mj=1_000_000):
        self.mj, self.step_mj = start_mj, step_mj
        self.init_error, self.energy_error = init_error, energy_error
        self.handle_index = None

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetHandleByIndex(self, i):
        self.handle_index = i
        return ("handle", i)

    def nvmlDeviceGetName(self, handle):
        return b"Fake H100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy_error:
            raise self.energy_error
        self.mj += self.step_mj
        return self.mj
