"""The lab's data side: how fast a ``torch.utils.data.DataLoader`` feeds a model, and what it costs.

    from lab.data import LoaderBench, LoaderConfig, grid
    bench = LoaderBench(budget="quick")
    rows = bench.rows(grid(dataset="mnist1d", num_workers=[0, 1, 2], sample_cost_ms=0.2, model="mnist1d-cnn"))
    rows[0]["loader_sps"], rows[0]["stall_frac"], rows[0]["energy_mj_per_sample"]

- config.py:   LoaderConfig, its knobs (KNOBS), grid
- storage.py:  where samples live (memory, PNG files, a memory-mapped array); generate.py writes the files
- work.py:     per-sample work: seeded augmentation and sample_cost_ms of real CPU work
- loop.py:     the timed loop (stall fraction measured inside next(iterator)), process-tree CPU time
- measure.py:  one config -> one row's measured columns; bench.py: the path (reuse rule, store)
- cli.py:      ``python -m lab data``

Importing this package imports torch and the lab's config machinery, nothing heavier (Pillow,
psutil, pandas load when first used).
"""
from lab.data.bench import KIND, LoaderBench
from lab.data.config import KNOBS, LoaderConfig, grid
from lab.data.measure import BUDGETS, LOADER_MEASUREMENT_VERSION, LoaderBudget

__all__ = ["KIND", "KNOBS", "LoaderBench", "LoaderConfig", "LoaderBudget", "BUDGETS", "LOADER_MEASUREMENT_VERSION",
           "grid"]
