"""Helpers several test modules share, one version each (conftest.py provides the fixtures)."""
from __future__ import annotations

import io

from lab.errors import Unsupported
from lab.measure.energy_source import EnergySource


class StepClock:
    """Advances ``tick`` seconds on every read (binary-exact ticks keep sums exact)."""

    def __init__(self, tick: float):
        self.t, self.tick, self.reads = 0.0, tick, 0

    def __call__(self) -> float:
        self.reads += 1
        self.t += self.tick
        return self.t


class StepCounter(EnergySource):
    """A cumulative counter that adds ``step`` joules on every read."""

    name, note, assumption = "fake", "fake counter", ""

    def __init__(self, step: float):
        self.joules, self.step, self.reads = 0.0, step, 0

    def read_joules(self) -> float:
        self.reads += 1
        self.joules += self.step
        return self.joules


def run_main(argv):
    """lab.cli.main(argv) in-process: (exit status, stdout, stderr)."""
    from lab.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_error_line(code, out, err, *words, any_of=()):
    """Exit status 2, nothing on stdout, exactly one 'error: ...' line on stderr naming every one of
    ``words`` and at least one of ``any_of``; no traceback. (code, out, err) is what run_main returns."""
    assert code == 2, f"exit status {code}, stderr={err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", out
    err_lines = lines(err)
    assert len(err_lines) == 1, f"expected exactly one line on stderr, got {err_lines!r}"
    assert err_lines[0].startswith("error:"), err_lines[0]
    for word in words:
        assert word in err_lines[0], (word, err_lines[0])
    if any_of:
        assert any(word in err_lines[0] for word in any_of), f"{err_lines[0]!r} names none of {any_of}"


class FakeMeasure:
    """An instant measure for lab.bench.Bench: latency = the call's number (ms), accuracy 0.9.

    calls: configs measured, in order; fail: quant schemes that raise Unsupported('fake');
    interrupt_at: the call number that raises KeyboardInterrupt (a Ctrl-C mid-sweep); extra: columns added.
    """

    def __init__(self):
        self.calls, self.fail, self.interrupt_at, self.extra = [], set(), None, {}

    def __call__(self, config, budget, **_):  # store, env, prepared: not needed by a fake
        self.calls.append(config)
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if config.quant in self.fail:
            raise Unsupported("fake")
        return {"metric": "accuracy", "latency_ms_p50": float(len(self.calls)),
                "energy_mj_per_sample": float("nan"), "accuracy": 0.9, **self.extra}


def load_benchmark(name: str):
    """A script of benchmarks/ (``name``, without .py) imported as a module, so tests can drive it with fakes."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
