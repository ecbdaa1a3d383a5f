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
    # Freezing treats weights as constants, which the lab's models are (inference
    # only). Without it, int8-static (PT2E) graphs keep dequantizing weights on
    # every call and never reach the int8 kernels. It must be set globally, not
    # per call: options={"freezing": True} fails on onednn's qlinear_prepack, and
    # a recompile later in the process must see the same setting.
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    return torch.compile(model)
