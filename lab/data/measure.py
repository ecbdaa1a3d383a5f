"""One loader config -> the measured columns of one loader row (the path, lab.data.bench, adds
identity, commits, and turns a failure into an error row).

Three timed loops (lab.data.loop), in one contention window:

1. the loader alone: iterate a fresh DataLoader for the budget's time -> ``loader_sps``, ``startup_s``;
2. the model alone on synthetic batches of the same shape -> ``model_sps`` (NaN without a model);
3. the two together, the real loop, on another fresh DataLoader -> ``pipeline_sps``, ``stall_frac``
   (measured time inside ``next(iterator)`` / the loop's time), and over this window the CPU
   utilisation of the process tree and the energy per sample.

CPU time and contention. DataLoader workers are our own processes: their CPU time is this
measurement's cost, not another program's load. So both the CPU figure and the contention
meter count the whole process tree (``tree_cpu_s``: this process, its live workers, and the
workers already reaped); ``CpuContention(own_cpu_s=tree_cpu_s)`` then counts as "others" only
what is left: other programs. (lab.measure.contention by default counts child processes as
others, which would flag every row with two workers as contended.) The CPU-time energy
estimate likewise counts the tree, not the main process alone (which would leave out the
decoding done in the workers).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from pathlib import Path

import torch

from lab import hardware
from lab.budget import policy_name
from lab.data.config import NO_MODEL, LoaderConfig
from lab.data.loop import LoopStats, timed_loop, tree_cpu_s
from lab.data import generate
from lab.data.storage import GENERATED_DIR, SAMPLE_SHAPE, ArrayDataset, FileDataset, MemoryDataset
from lab.data.work import SampleWork
from lab.errors import FieldError, Unsupported
from lab.measure import contention, energy
from lab.measure.contention import ContentionPolicy
from lab.measure.estimate import CpuTimeEstimate

# Version of this measuring code (the reuse rule compares it): bump when a loader row's numbers change meaning.
# 2: CPU time and energy read at the timed window's close (timed_loop's on_stop), no longer after the
#    iterator's shutdown, which version 1 rows counted in cpu_util_frac, power_w and mJ/sample.
LOADER_MEASUREMENT_VERSION = 2


@dataclasses.dataclass(frozen=True)
class LoaderBudget:
    """How long each of the three loops runs (``phase_s``, s), untimed batches after start-up
    (``warmup_batches``), and the contention policy. Rows store the name (``name``)."""

    phase_s: float = 1.0
    warmup_batches: int = 2
    contention: ContentionPolicy = ContentionPolicy()

    @classmethod
    def named(cls, name: str) -> "LoaderBudget":
        if name not in BUDGETS:
            raise FieldError("budget", name, "one of " + ", ".join(BUDGETS))
        return BUDGETS[name]

    @property
    def name(self) -> str:
        """'default', 'quick', or 'custom-<hash of the policy>' for any other budget (as
        lab.budget.Budget.name): derived from the policy, not given, so a custom budget's rows can
        never pass for a named budget's, and only a request with the very same policy reuses them."""
        return policy_name(self, BUDGETS)


# Strictest first, as lab.budget.BUDGETS: a default row answers a quick request.
BUDGETS = {"default": LoaderBudget(),
           "quick": LoaderBudget(phase_s=0.3, warmup_batches=1,
                                 contention=ContentionPolicy(max_retries=1, pause_s=0.2))}

_METER = None


def meter() -> contention.CpuContention:
    """The contention meter counting the process tree as ours (see the module docstring)."""
    global _METER
    if _METER is None:
        _METER = contention.CpuContention(own_cpu_s=tree_cpu_s)
    return _METER


def energy_source(device: str) -> energy.EnergySource:
    """lab.measure.energy's choice for ``device``; its CPU-time estimate made to count the process tree."""
    source = energy.choose_source(device)
    if type(source) is CpuTimeEstimate:
        tree = CpuTimeEstimate(cpu_time=tree_cpu_s, reason=source.reason)
        tree.note = tree.note.replace("process CPU time", "CPU time of this process and its loader workers")
        return tree
    return source  # a counter (whole socket or board), or a GPU run's host-only estimate, already labelled


def open_dataset(dataset: str, storage: str, work: SampleWork | None = None, root: Path | None = None):
    """The Dataset for ``storage`` ('memory', 'files', 'array'); the on-disk copies are generated
    under ``root`` (default data/generated) first if they are missing (lab.data.generate)."""
    if storage == "memory":
        return MemoryDataset(dataset, work)
    folder = generate.ensure(dataset, root or GENERATED_DIR)
    return (FileDataset if storage == "files" else ArrayDataset)(dataset, folder, work)


def warmup_batches(config: LoaderConfig, budget: LoaderBudget) -> int:
    """Batches taken before the timed window opens (the first one included): the budget's, plus
    every batch the workers had prefetched (num_workers x prefetch_factor, torch's default 2).
    Those were made during start-up, so a window opening on a full queue would count a burst the
    loader cannot sustain; once they are drained, the loop is in its steady state."""
    prefetched = config.num_workers * (config.prefetch_factor or 2) if config.num_workers else 0
    return budget.warmup_batches + prefetched


def make_loader(config: LoaderConfig, dataset, pinned: bool) -> torch.utils.data.DataLoader:
    """The DataLoader a training loop would make from ``config``: shuffled (seeded), not dropping the last batch."""
    extra = {}
    if config.num_workers:
        extra["persistent_workers"] = config.persistent_workers
        if config.prefetch_factor is not None:
            extra["prefetch_factor"] = config.prefetch_factor
    return torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(config.seed),
                                       num_workers=config.num_workers, pin_memory=pinned, **extra)


def model_step(config: LoaderConfig, values_per_sample: int):
    """(step(batch), input shape per sample) for config's model: a forward pass, or a training step."""
    from lab.models import registry

    spec = registry.get(config.model)
    example = spec.make_input(1)
    if not isinstance(example, torch.Tensor):
        raise Unsupported(f"model {config.model!r} takes several inputs; the loader feeds one tensor")
    shape = tuple(example.shape[1:])
    if math.prod(shape) != values_per_sample:
        raise Unsupported(f"model {config.model!r} takes {math.prod(shape)} values per sample {shape}; dataset "
                          f"{config.dataset!r} has {values_per_sample}: choose a {config.dataset}-* model")
    device = torch.device(config.device)
    model = spec.build().to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    non_blocking = config.pin_memory and device.type == "cuda"
    if config.step == "train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def step(batch):
            x, y = batch
            x = x.view(len(x), *shape).to(device, non_blocking=non_blocking)
            loss = torch.nn.functional.cross_entropy(model(x), y.to(device, non_blocking=non_blocking))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if sync is not None:
                sync()
    else:
        model.eval()

        def step(batch):
            with torch.inference_mode():
                model(batch[0].view(len(batch[0]), *shape).to(device, non_blocking=non_blocking))
            if sync is not None:
                sync()
    return step, shape


def measure_loader(config: LoaderConfig, budget: LoaderBudget, *, data_dir: Path | None = None,
                   clock=time.perf_counter) -> dict:
    """Measure ``config`` (see the module docstring); returns the measured columns. Raises on failure."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise Unsupported("device 'cuda': no CUDA device on this machine")
    pinned = bool(config.pin_memory and torch.cuda.is_available())
    work = SampleWork(SAMPLE_SHAPE[config.dataset], augment=config.augment, cost_ms=config.sample_cost_ms,
                      seed=config.seed)
    dataset = open_dataset(config.dataset, config.storage, work, data_dir)
    values = math.prod(SAMPLE_SHAPE[config.dataset])
    source = energy_source(config.device)
    cpus = hardware.cpu_count()
    gauge = meter()
    loop = dict(warmup_batches=warmup_batches(config, budget), clock=clock)
    with hardware.torch_threads(config.threads):
        torch.manual_seed(config.seed)
        step, shape = model_step(config, values) if config.model != NO_MODEL else (None, None)

        def counted_loop(make_iter, fn) -> tuple[LoopStats, float, float]:
            # CPU time and energy are read at the timed window's two ends (on_start, on_stop), so they
            # cover the same span as the window's seconds they are divided by: not the iterator's
            # shutdown after it (stopping non-persistent workers), which the loop's clock does not count.
            opened, closed = {}, {}
            stats = timed_loop(make_iter, fn, budget.phase_s, **loop,
                               on_start=lambda: opened.update(cpu=tree_cpu_s(), j=source.read_joules()),
                               on_stop=lambda: closed.update(cpu=tree_cpu_s(), j=source.read_joules()))
            return stats, closed["cpu"] - opened["cpu"], closed["j"] - opened["j"]

        def measure_once():
            with gauge.window() as window:
                try:
                    loader = make_loader(config, dataset, pinned)
                    alone, cpu_s, joules = counted_loop(lambda: iter(loader), None)
                    del loader  # its workers stop before the next loop starts
                    model = together = None
                    if step is not None:
                        x = torch.randn(config.batch_size, values)
                        y = torch.randint(0, 10, (config.batch_size,))
                        model = timed_loop(lambda: itertools.repeat((x, y)), step, budget.phase_s, **loop)
                        loader = make_loader(config, dataset, pinned)
                        together, cpu_s, joules = counted_loop(lambda: iter(loader), step)
                        del loader
                finally:
                    source.close()
            return (alone, model, together, cpu_s, joules), window.other_cpu_frac

        outcome = contention.run_with_contention(measure_once, budget.contention, method=gauge.method)
    alone, model, together, cpu_s, joules = outcome.result
    window = together or alone  # the pipeline's loop: the two together, or the loader alone without a model
    row = {"loader_sps": alone.sps, "startup_s": alone.startup_s,
           "model_sps": model.sps if model else float("nan"),
           "pipeline_sps": window.sps, "stall_frac": window.stall_frac,
           "wait_s": window.wait_s, "window_s": window.seconds, "batches": window.batches,
           "epochs_restarted": window.epochs_restarted, "pipeline_startup_s": window.startup_s,
           "cpu_util_frac": cpu_s / (window.seconds * cpus) if window.seconds > 0 else float("nan"),
           "cpu_ms_per_sample": cpu_s * 1e3 / window.samples, "cpus": cpus,
           "energy_mj_per_sample": joules * 1e3 / window.samples, "power_w": joules / window.seconds,
           "energy_source": source.name, "energy_note": source.note, "energy_assumption": source.assumption,
           "energy_window_s": window.seconds,
           "energy_short_window": window.seconds < source.min_window_s,
           "dataset_samples": len(dataset), "model_input_shape": list(shape) if shape else None,
           "pinned": pinned, "measurement_version": LOADER_MEASUREMENT_VERSION}
    if config.pin_memory and not pinned:
        row["pin_memory_note"] = "no accelerator on this machine: pin_memory does nothing (batches not pinned)"
    row.update(outcome.as_row())
    return row
