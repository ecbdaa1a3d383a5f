"""Issue 13's benchmark, part (2): energy to reach an accuracy, and what garbage data costs.

    .venv/bin/python benchmarks/training_energy.py [--seeds 0 1 2] [--target 0.9] [--time-budget-s 30]

digits-cnn from scratch (its recipe: Adam, lr 0.003, batches of 64; torch on one thread, so a run
on a shared 2-core machine has a core to itself) to a held-out accuracy of ``--target``, at 0 %, 20 %
and 40 % label noise x 100 % and 50 % of the training data kept (a seeded random subset), three seeds
each, through lab.train.TrainBench (the path every front end takes; a fresh temporary store unless
--store, so nothing is served from an earlier run). Seeds are the outer loop (every configuration with
seed 0, then seed 1, ...): a slow spell of a shared machine then lands on all configurations alike.

Why 0.9 by default: the target should be one every cell reaches within the budget, so that time and
energy to accuracy measure the cost of the knobs rather than a time budget's cut-off, and one the noisy
runs do not oscillate around, where reaching it would be partly luck. The printed "reached k/n" says
whether a machine's runs got there; try another target with --target (e.g. 0.95) to see the difference.

Printed: every run, then the spread per configuration over the seeds: reached k/n, the median
[min–max] and interquartile range of time to accuracy (s) and energy to accuracy (J) over the runs
that reached the target, epochs to the target, best accuracy, and how many runs were contended (other
processes used >= 10 % of the CPUs during an epoch: kept, flagged). Energy is the lab's CPU-time
estimate where no counter is readable (the source is printed). A warm-up epoch (untimed, not stored)
comes first: a process's first convolution pays library start-up that no configuration should carry.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from lab.store import Store
from lab.train import TrainBench, TrainConfig, grid, train
from lab.train.summary import spread

MODEL, NOISE, KEPT = "digits-cnn", (0.0, 0.2, 0.4), (1.0, 0.5)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.9, help="target held-out accuracy (default 0.9)")
    parser.add_argument("--time-budget-s", type=float, default=30.0, help="per run (default 30 s)")
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--keep-by", choices=("random", "el2n"), default="random")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--store", default=None, help="keep the rows in this store (default: a temporary one)")
    return parser.parse_args(argv)


def configs(args) -> list[TrainConfig]:
    return grid(seed=args.seeds, model=MODEL, label_noise=list(NOISE), data_kept=list(KEPT), keep_by=args.keep_by,
                target_accuracy=args.target, time_budget_s=args.time_budget_s, max_epochs=args.max_epochs,
                threads=args.threads)


def _fmt(value, digits=3):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def print_runs(rows):
    print(f"{'noise':>5} {'kept':>5} {'seed':>4}  {'reached':<7} {'tta_s':>7} {'eta_j':>7} {'epochs':>6} "
          f"{'best_acc':>8} {'seconds':>7} {'energy_j':>8}  contended")
    for r in rows:
        print(f"{r['label_noise']:>5g} {r['data_kept']:>5g} {r['seed']:>4}  {str(r.get('reached')):<7} "
              f"{_fmt(r.get('tta_s')):>7} {_fmt(r.get('eta_j')):>7} {r.get('epochs', 0):>6} "
              f"{_fmt(r.get('best_accuracy')):>8} {_fmt(r.get('seconds')):>7} {_fmt(r.get('energy_j')):>8}  "
              f"{'yes' if r.get('contended') else 'no'}{'  error: ' + r['error'] if r.get('error') else ''}")


def print_spread(rows, target):
    lines = spread(rows)
    clean = next((line for line in lines if line["label_noise"] == 0.0 and line["data_kept"] == 1.0), None)
    print(f"\nspread over seeds (runs that reached {target:g}): median [min–max] (IQR)")
    print(f"{'noise':>5} {'kept':>5} {'reached':>7}  {'tta_s':<24} {'eta_j':<24} {'eta/clean':>9} "
          f"{'epochs':>6} {'best_acc':>8} {'contended':>9}")
    for line in lines:
        def cell(stat):
            if math.isnan(line[f"{stat}_median"]):
                return "n/a"
            return (f"{_fmt(line[f'{stat}_median'])} [{_fmt(line[f'{stat}_min'])}–{_fmt(line[f'{stat}_max'])}]"
                    f" ({_fmt(line[f'{stat}_q3'] - line[f'{stat}_q1'], 2)})")

        ratio = line["eta_j_median"] / clean["eta_j_median"] if clean and clean["eta_j_median"] > 0 else math.nan
        print(f"{line['label_noise']:>5g} {line['data_kept']:>5g} {line['reached']:>7}  {cell('tta_s'):<24} "
              f"{cell('eta_j'):<24} {_fmt(ratio):>9} {_fmt(line['epochs_to_target_median']):>6} "
              f"{_fmt(line['best_accuracy_median']):>8} "
              f"{line['contended']:>6}/{line['runs']}")


def main(argv=None) -> int:
    args = parse(argv)
    todo = configs(args)
    print(f"(2) energy to accuracy: {MODEL} from scratch to held-out accuracy {args.target:g}; label noise "
          f"{', '.join(f'{n:.0%}' for n in NOISE)} x data kept {', '.join(f'{k:.0%}' for k in KEPT)} "
          f"({args.keep_by}); seeds {args.seeds}; budget {args.time_budget_s:g} s / {args.max_epochs} epochs per run; "
          f"{args.threads} thread(s); {len(todo)} runs", flush=True)
    train(TrainConfig(model=MODEL, max_epochs=1, threads=args.threads, target_accuracy=1.0))  # warm-up, untimed
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.store) if args.store else Store(Path(tmp) / "training.sqlite")
        bench = TrainBench(store)
        rows = bench.rows(todo, force=True, progress=lambda done, total: print(f"  {done}/{total} runs",
                                                                               file=sys.stderr, flush=True))
    rows.sort(key=lambda r: (r["label_noise"], -r["data_kept"], r["seed"]))
    sources = sorted({r.get("energy_note") or r.get("energy_source") for r in rows if not r.get("error")})
    print("energy source: " + "; ".join(str(s) for s in sources))
    print_runs(rows)
    print_spread(rows, args.target)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
