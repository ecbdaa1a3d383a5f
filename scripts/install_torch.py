"""Install torch into the lab's venv, sized for the machine: `make lab` and `make test` run this first.

    .venv/bin/python scripts/install_torch.py            # what make does
    LAB_TORCH=cpu|default .venv/bin/python scripts/install_torch.py   # choose yourself

Why: on Linux, PyPI's torch wheel brings the CUDA libraries (cuBLAS, cuDNN, NCCL, ...: about 3 GB by
the issue's count; not measured here, where PyPI's CUDA build is out of reach).
A student's laptop without an NVIDIA GPU never uses them. PyTorch publishes CPU-only wheels on
its own index (https://download.pytorch.org/whl/cpu); this script installs from there on Linux
without an NVIDIA GPU, falls back to the default index where that one cannot be reached, and
then says which build it installed, read from the installed torch itself (not assumed from the
command that ran). macOS and Windows wheels on PyPI hold no CUDA, so there the default is used.

Standard library only: it runs before anything else is installed. The torch version is the pin
in constraints.txt; `2.13.0+cpu` satisfies the pin `torch==2.13.0`.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ROOT = Path(__file__).resolve().parents[1]
CHOICES = ("auto", "cpu", "default")


def pinned_version(constraints: Path = ROOT / "constraints.txt") -> str:
    """The torch version pinned in constraints.txt (the one line ``torch==X``)."""
    for line in constraints.read_text().splitlines():
        found = re.match(r"^\s*torch\s*==\s*([^\s#;]+)", line)
        if found:
            return found.group(1)
    raise SystemExit(f"{constraints}: no 'torch==VERSION' line; pin torch there")


def has_nvidia_gpu() -> bool:
    """An NVIDIA driver is loaded (its /proc entry) or nvidia-smi is on PATH."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def choose(system: str, nvidia: bool, wanted: str = "auto") -> tuple[str, str]:
    """('cpu' | 'default', why) for a machine running ``system`` with or without an NVIDIA GPU."""
    if wanted not in CHOICES:
        raise SystemExit(f"LAB_TORCH={wanted!r} is not allowed: one of {', '.join(CHOICES)}")
    if wanted != "auto":
        return wanted, f"LAB_TORCH={wanted}"
    if system != "Linux":
        return "default", f"{system}: the default wheel holds no CUDA libraries"
    if nvidia:
        return "default", "an NVIDIA GPU is present: the default wheel brings CUDA"
    return "cpu", "Linux without an NVIDIA GPU: the CPU-only build leaves out the CUDA libraries"


def installed(python: str) -> tuple[str, str | None] | None:
    """(torch.__version__, torch.version.cuda) of the torch that ``python`` imports, or None."""
    probe = "import torch, json; print(json.dumps([torch.__version__, torch.version.cuda]))"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    import json

    version, cuda = json.loads(done.stdout.strip().splitlines()[-1])
    return version, cuda


def describe(version: str, cuda: str | None) -> str:
    return f"torch {version}, " + ("CPU-only build" if cuda is None else f"CUDA {cuda} build")


def reachable(url: str, timeout_s: float = 10.0) -> str | None:
    """None when ``url`` answers; else why not, in one line."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s):
            return None
    except Exception as exc:  # noqa: BLE001 — any failure means: use the default index
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def install(python: str, version: str, build: str, run: Callable[[list[str]], int],
            probe: Callable[[str], str | None] = reachable) -> str:
    """Install torch==version; returns where it asked pip to look. ``run(argv) -> returncode``."""
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", f"torch=={version}"]
    if build == "cpu":
        why_not = probe(f"{CPU_INDEX}/torch/")
        # --no-deps: torch's own dependencies come from the default index with everything else. They
        # are needed at once (torch does not import without typing_extensions, checked in a fresh venv):
        # the plain install that follows finds torch==version satisfied by the +cpu build and adds only them.
        if why_not is None and run(pip + ["--no-deps", "--index-url", CPU_INDEX, "--timeout", "20"]) == 0:
            if run(pip) != 0:
                raise SystemExit("torch's dependencies could not be installed from the default index (see pip's message above)")
            return f"with --index-url {CPU_INDEX}"
        print(f"torch: the CPU-only index {CPU_INDEX} " +
              (f"could not be reached ({why_not})" if why_not else f"did not install torch=={version}") +
              "; falling back to the default index", flush=True)
    if run(pip) != 0:
        raise SystemExit(f"torch=={version} could not be installed from the default index either (see pip's message above)")
    return "from the default index"  # pip's configured sources (PyPI unless pip.conf says otherwise)


def site_size_mib(python: str) -> float | None:
    """MiB on disk of torch and of any nvidia-* CUDA libraries beside it in the venv."""
    done = subprocess.run([python, "-c", "import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    site = Path(done.stdout.strip())
    total = 0
    for top in [site / "torch", *site.glob("nvidia*"), *site.glob("triton")]:
        for path in top.rglob("*") if top.is_dir() else []:
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    python = sys.executable
    version = pinned_version()
    before = installed(python)
    if before is not None and before[0].split("+")[0] == version:
        print(f"torch: {describe(*before)} already installed", flush=True)
        return 0
    build, why = choose(platform.system(), has_nvidia_gpu(), os.environ.get("LAB_TORCH", "auto"))
    print(f"torch: installing the {'CPU-only' if build == 'cpu' else 'default'} build of {version} ({why})", flush=True)
    source = install(python, version, build, lambda argv: subprocess.call(argv))
    after = installed(python)
    if after is None:
        raise SystemExit("torch was installed but does not import; see pip's output above")
    size = site_size_mib(python)
    print(f"torch: installed {describe(*after)} {source}" + (f" ({size:,.0f} MiB on disk)" if size else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
