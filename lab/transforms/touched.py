"""The one rule both coverage reports share: a transform that touched under half of the model is
flagged on its row (``prune_coverage_low``, ``quant_coverage_low``) and warned about, since the
row's label ("sparsity 0.5", "int8") then overstates what was done."""
from __future__ import annotations

import warnings

LOW_COVERAGE = 0.5  # share of the parameters (by count) a transform must touch not to be flagged


class CoverageWarning(UserWarning):
    """A transform touched under half of the model's parameters."""


def is_low(frac: float, message: str) -> bool:
    """Whether ``frac`` (0-1) is under LOW_COVERAGE; if so, warn with ``message`` (one line)."""
    low = frac < LOW_COVERAGE
    if low:
        warnings.warn(message, CoverageWarning, stacklevel=3)
    return low
