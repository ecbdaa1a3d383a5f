"""torch.compile as a knob. The compile cache lives in the project folder
(.torch_compile_cache/), so a second run of the same configuration is warm."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

CACHE_DIR = Path(__file__).resolve().parents[2] / ".torch_compile_cache"


def compile_model(model: nn.Module) -> nn.Module:
    """Wrap ``model`` with torch.compile. Compilation happens on the first call:
    the runner times that call separately as ``compile_s``."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(CACHE_DIR))
    return torch.compile(model)
