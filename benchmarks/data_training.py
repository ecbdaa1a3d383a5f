"""Issue 13's benchmark. Part (1), here: is the model waiting for data?

    .venv/bin/python benchmarks/data_training.py [--quick] [--repeats N] [--workers 0,1,2]

MNIST-1D (4,000 training signals in memory) with 0.2 ms of CPU work per sample (lab.data.work:
seeded augmentation plus calibrated arithmetic), batches of 64, feeding mnist1d-cnn (inference),
torch on one thread (so on a 2-core machine a worker has a core of its own), workers persistent. For num_workers 0, 1
and 2 side by side, through lab.data.LoaderBench (the path every front end takes; a fresh
temporary store, nothing served from an earlier run): the loader alone, the model alone and the
two together (samples/s), the measured stall fraction, the workers' start-up, CPU use of the
process tree and energy per sample with its source.

Then the lab's pipeline throughput against a plain loop over the same DataLoader (built here
directly with torch.utils.data.DataLoader over the same dataset class, the model called in a
bare ``for`` loop over two epochs, timed with time.perf_counter after the batches the lab also
leaves out of its window: start-up and what the workers prefetched meanwhile). The two
alternate, ``--repeats`` times each (shared machines drift: never all of one, then all of the
other); the ratio is of their medians, target 0.95-1.05.

Part (2), energy to reach an accuracy, is benchmarks/training_energy.py (the training side's):
``main()`` runs it after part (1) unless --skip-training.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from lab import hardware
from lab.data import BUDGETS, LoaderBench, LoaderConfig
from lab.data.measure import warmup_batches
from lab.data.storage import SAMPLE_SHAPE, MemoryDataset
from lab.data.work import SampleWork
from lab.models import registry
from lab.store import Store

DATASET, MODEL, BATCH, COST_MS, THREADS = "mnist1d", "mnist1d-cnn", 64, 0.2, 1
RATIO_LOW, RATIO_HIGH = 0.95, 1.05


def config(workers: int) -> LoaderConfig:
    # Workers persist between epochs, as a training loop should keep them: a window of the lab's loop
    # and the plain loop's two epochs then pay the same small cost at an epoch's end, not a restart
    # of the worker processes that would land in one and not the other.
    return LoaderConfig(dataset=DATASET, storage="memory", num_workers=workers, batch_size=BATCH,
                        sample_cost_ms=COST_MS, model=MODEL, threads=THREADS, persistent_workers=workers > 0)


def plain_loop_sps(workers: int, skip: int, epochs: int = 2, seed: int = 0) -> float:
    """Samples/s of a bare training-style loop over ``epochs`` epochs, by perf_counter, after its first
    ``skip`` batches (start-up and the batches the workers prefetched meanwhile: the same batches the
    lab leaves out of its window, lab.data.measure.warmup_batches)."""
    dataset = MemoryDataset(DATASET, SampleWork(SAMPLE_SHAPE[DATASET], augment=True, cost_ms=COST_MS, seed=seed))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(seed))
    model = registry.get(MODEL).build().eval()
    with hardware.torch_threads(THREADS), torch.inference_mode():
        taken = samples = 0
        for _ in range(epochs):
            for x, _ in loader:
                model(x.view(len(x), 1, 40))
                taken += 1
                if taken == skip:
                    start = time.perf_counter()
                elif taken > skip:
                    samples += len(x)
        elapsed = time.perf_counter() - start
    return samples / elapsed


def part1(workers: list[int], repeats: int, budget: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        bench = LoaderBench(Store(Path(tmp) / "bench.sqlite"), budget=budget)
        results = []
        for w in workers:
            lab_rows, plain = [], []
            for _ in range(repeats):  # alternate: lab, plain, lab, plain, ...
                lab_rows.append(bench.measure(config(w)))
                plain.append(plain_loop_sps(w, warmup_batches(config(w), bench.budget)))
            failed = [r["error"] for r in lab_rows if r["error"]]
            if failed:
                results.append({"num_workers": w, "error": failed[0]})
                continue

            def median(column):
                return statistics.median(r[column] for r in lab_rows)

            results.append({"num_workers": w, "loader_sps": median("loader_sps"), "model_sps": median("model_sps"),
                            "pipeline_sps": median("pipeline_sps"), "stall_frac": median("stall_frac"),
                            "startup_s": median("startup_s"), "cpu_util_frac": median("cpu_util_frac"),
                            "energy_mj_per_sample": median("energy_mj_per_sample"),
                            "energy_source": lab_rows[0]["energy_source"],
                            "contended": sum(bool(r["contended"]) for r in lab_rows),
                            "plain_sps": statistics.median(plain),
                            "pipeline_range": (min(r["pipeline_sps"] for r in lab_rows),
                                               max(r["pipeline_sps"] for r in lab_rows)),
                            "plain_range": (min(plain), max(plain)), "repeats": repeats, "error": None})
    return results


def print_part1(results: list[dict], out=sys.stdout) -> bool:
    """Print the table; True when every ratio is within the target."""
    print(f"(1) input pipeline: {DATASET} in memory, {COST_MS} ms CPU work per sample, batch {BATCH}, "
          f"{MODEL} inference, torch threads {THREADS}; medians of {results[0].get('repeats', '?')} rows", file=out)
    head = (f"{'workers':>7} {'loader/s':>9} {'model/s':>9} {'pipeline/s':>10} {'stall':>6} {'startup_s':>9} "
            f"{'cpu_util':>8} {'mJ/sample':>9} {'plain/s':>9} {'lab/plain':>9}  contended")
    print(head, file=out)
    ok = True
    for r in results:
        if r.get("error"):
            print(f"{r['num_workers']:>7} NOT MEASURED: {r['error']}", file=out)
            ok = False
            continue
        ratio = r["pipeline_sps"] / r["plain_sps"]
        within = RATIO_LOW <= ratio <= RATIO_HIGH
        ok &= within
        print(f"{r['num_workers']:>7} {r['loader_sps']:>9.0f} {r['model_sps']:>9.0f} {r['pipeline_sps']:>10.0f} "
              f"{r['stall_frac']:>6.2f} {r['startup_s']:>9.3f} {r['cpu_util_frac']:>8.2f} "
              f"{r['energy_mj_per_sample']:>9.3f} {r['plain_sps']:>9.0f} {ratio:>9.3f}  "
              f"{r['contended']}/{r['repeats']}{'' if within else '  (outside 0.95-1.05)'}", file=out)
    sources = sorted({r["energy_source"] for r in results if not r.get("error")})
    print(f"energy source: {', '.join(sources)}; lab/plain: the lab's pipeline samples/s over a plain "
          f"perf_counter loop's, target {RATIO_LOW}-{RATIO_HIGH}: {'MET' if ok else 'NOT MET'}", file=out)
    for r in results:
        if not r.get("error"):
            print(f"  workers {r['num_workers']}: pipeline {r['pipeline_range'][0]:.0f}..{r['pipeline_range'][1]:.0f}"
                  f" samples/s, plain {r['plain_range'][0]:.0f}..{r['plain_range'][1]:.0f} (min..max)", file=out)
    return ok


def run_part2() -> int:
    """Part (2): benchmarks/training_energy.py's main(); its exit status."""
    import training_energy  # beside this script, whose folder is sys.path[0] when it runs as a script

    return training_energy.main([])  # [], not None: this script's own arguments are not its


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{BUDGETS['quick'].phase_s:g} s windows instead of {BUDGETS['default'].phase_s:g} s, "
                             f"and one repeat (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="rows per worker count (default 3; quick 1)")
    parser.add_argument("--workers", default="0,1,2", help="comma list of num_workers (default 0,1,2)")
    parser.add_argument("--skip-training", action="store_true", help="part (1) only")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    repeats = args.repeats or (1 if args.quick else 3)
    ok = print_part1(part1(workers, repeats, "quick" if args.quick else "default"))
    code = 0 if ok else 1
    if not args.skip_training:
        sys.stdout.flush()
        part2 = run_part2()  # runs even when part (1) missed its target
        code = code or part2
    return code


if __name__ == "__main__":
    sys.exit(main())
