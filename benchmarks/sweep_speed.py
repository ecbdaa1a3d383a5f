"""How much of a sweep's wall time is spent measuring, and what each configuration costs besides.

    .venv/bin/python benchmarks/sweep_speed.py [--quick] [--grids minilm,digits-cnn] [--json PATH]

Two grids through lab.Bench (the path every front end takes), at the default budget, each in a
fresh store (nothing served from a previous run):

  minilm      batch 1, 2, 4, 8, 16, 32                                       (6 configurations)
  digits-cnn  batch 1, 8, 32, 64 x fp32, bf16, int8-dynamic x unpruned, structured 0.5
                                                                            (24 configurations)

For each it prints the wall time of the whole sweep (imports, model builds, transforms, the
ceilings, the store and everything else included), the time spent measuring — inside the
timed calls and the energy window, which now covers the timed calls themselves and extends
them only while too short (``energy_window_s`` on each row) — their ratio, and the overhead
per configuration outside the measurement: (wall - measuring) / configurations, and the worst
single row (its ``seconds`` - ``energy_window_s``; the first row of a grid carries the model's
build). Targets (issue 11): measuring >= 60 % of the wall time, overhead < 0.5 s per
configuration. Each figure is printed with its ratio to the target.

The device's roofline ceilings are a property of the device, measured once per device, threads
and environment and then read from the store (``python -m lab env --ceilings``): they are
measured before the grids, and their time is printed apart. Everything else a grid needs —
imports, the model's build, its transforms — is in its wall time. Shared machines are noisy: rows flagged ``contended`` were measured again after a pause
(the count is printed), and a noisy timing samples up to its budget's max_time_s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import lab
from lab import hardware, roofline
from lab.store import Store

GRIDS = {
    "minilm": dict(model="minilm", batch_size=[1, 2, 4, 8, 16, 32]),
    "digits-cnn": dict(model="digits-cnn", prune_method=["none", "structured"], sparsity=[0.5],
                       quant=["fp32", "bf16", "int8-dynamic"], batch_size=[1, 8, 32, 64]),
}
TARGET_MEASURING_FRAC = 0.60   # at least
TARGET_OVERHEAD_S = 0.5        # at most, per configuration


def sweep(name: str, budget: str, store_path: str) -> dict:
    configs = lab.grid(**GRIDS[name])
    bench = lab.Bench(store_path, budget=budget)
    started = time.perf_counter()
    rows = bench.rows(configs)
    wall = time.perf_counter() - started
    measuring = sum(r.get("energy_window_s") or 0.0 for r in rows)
    outside = [(r.get("seconds") or 0.0) - (r.get("energy_window_s") or 0.0) for r in rows]
    return {"grid": name, "configs": len(configs), "wall_s": wall, "measuring_s": measuring,
            "measuring_frac": measuring / wall if wall > 0 else float("nan"),
            "overhead_per_config_s": (wall - measuring) / len(configs), "worst_row_overhead_s": max(outside),
            "first_row_overhead_s": outside[0], "transforms_built": bench.prepared.built,
            "failed": sum(bool(r.get("error")) for r in rows), "contended": sum(bool(r.get("contended")) for r in rows),
            "retries": sum(r.get("contention_retries") or 0 for r in rows),
            "noisy": sum(bool(r.get("noisy")) for r in rows), "errors": sorted({r["error"] for r in rows if r.get("error")})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", default=",".join(GRIDS), help=f"comma list of {', '.join(GRIDS)}")
    parser.add_argument("--quick", action="store_true", help="the quick budget (a smoke run; targets are for default)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    names = [g.strip() for g in args.grids.split(",") if g.strip()]
    unknown = [g for g in names if g not in GRIDS]
    if unknown or not names:
        print(f"error: --grids={args.grids!r} is not allowed: a comma list of {', '.join(GRIDS)}", file=sys.stderr)
        return 2
    budget = "quick" if args.quick else "default"
    results = {"budget": budget, "cpu_model": hardware.cpu_model(), "cpu_count": hardware.cpu_count(),
               "load_avg_start": os.getloadavg(), "grids": []}
    with tempfile.TemporaryDirectory() as store_dir:
        store_path = os.path.join(store_dir, "sweep.sqlite")
        started = time.perf_counter()
        with hardware.torch_threads(hardware.cpu_count()):
            roofline.ceilings("cpu", hardware.cpu_count(), store=Store(store_path),
                              env_id=hardware.environment("cpu")["env_id"])
        results["ceilings_s"] = time.perf_counter() - started
        for name in names:
            print(f"sweeping {name} ({budget} budget) ...", file=sys.stderr, flush=True)
            results["grids"].append(sweep(name, budget, store_path))
    results["load_avg_end"] = os.getloadavg()

    print(f"\nsweep speed, {budget} budget, {results['cpu_model']} ({results['cpu_count']} cores); "
          f"load average {results['load_avg_start'][0]:.2f} -> {results['load_avg_end'][0]:.2f}; "
          f"the device's ceilings, measured once before: {results['ceilings_s']:.1f} s")
    header = (f"{'grid':<11}{'configs':>8}{'wall s':>9}{'measuring s':>13}{'measuring':>11}{'/target':>9}"
              f"{'overhead s/config':>19}{'/target':>9}{'worst row s':>13}{'first row s':>13}{'built':>7}"
              f"{'contended':>11}{'noisy':>7}")
    print(header)
    print("-" * len(header))
    met = True
    for g in results["grids"]:
        frac_ratio = g["measuring_frac"] / TARGET_MEASURING_FRAC
        over_ratio = g["overhead_per_config_s"] / TARGET_OVERHEAD_S
        met &= frac_ratio >= 1 and over_ratio <= 1 and not g["failed"]
        print(f"{g['grid']:<11}{g['configs']:>8}{g['wall_s']:>9.1f}{g['measuring_s']:>13.1f}"
              f"{g['measuring_frac']:>10.0%}{frac_ratio:>9.2f}{g['overhead_per_config_s']:>19.3f}{over_ratio:>9.2f}"
              f"{g['worst_row_overhead_s']:>13.2f}{g['first_row_overhead_s']:>13.2f}{g['transforms_built']:>7}"
              f"{g['contended']:>11}{g['noisy']:>7}")
        for error in g["errors"]:
            print(f"  NOT MEASURED in {g['grid']}: {error}")
    print(f"targets: measuring >= {TARGET_MEASURING_FRAC:.0%} of the wall time (ratio >= 1), overhead < "
          f"{TARGET_OVERHEAD_S} s per configuration (ratio <= 1): {'MET' if met else 'NOT MET'}"
          + ("" if budget == "default" else " (quick budget: a smoke run; the targets are for the default budget)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
