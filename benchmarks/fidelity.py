"""Fidelity of the lab's timer: lab.measure.timing vs torch.utils.benchmark, side by side.

For every built-in model (lab.models.registry.names()) at each batch size, this
times the SAME model object on the SAME input tensor with the SAME thread count
under torch.inference_mode(), once with the lab's ``time_calls`` (the p50 of
per-call samples) and once with torch.utils.benchmark's
``Timer(...).blocked_autorange()`` (the median of per-block means), and prints
the ratio lab_p50 / torch_median. It also times an empty call with both tools:
the lab's p50 of ``lambda: None`` is the bias its clock reads add to every sample.

Why the two differ at all: the lab reads the clock around every single call so
it can keep each sample and report percentiles and a noise flag; Timer runs a
block of calls between two clock reads and averages, which hides per-call
timer cost but also folds stalls into each block's mean. On a quiet machine
the two should agree within a few per cent; on a noisy one the median of
per-call samples sits a little below the blocked numbers (a right-skewed
distribution's median is below its mean), which the ``lab mean`` column shows.

Targets: every ratio within 0.95-1.05; overhead under 10 us per timed call.
The exit code is 0 whatever the numbers (a benchmark, not a test); non-zero on a crash.

    .venv/bin/python benchmarks/fidelity.py [--quick] [--models a,b] [--batches 1,64]
                                            [--threads N] [--rounds R] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch.utils.benchmark import Timer

from lab import hardware
from lab.measure.timing import TimingPolicy, time_calls
from lab.models import registry

RATIO_TARGET = (0.95, 1.05)
OVERHEAD_TARGET_US = 10.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n    ")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated model names (default: every built-in model)")
    parser.add_argument("--batches", default="1,64", help="comma-separated batch sizes (default: 1,64)")
    parser.add_argument("--threads", type=int, default=hardware.cpu_count(),
                        help="torch intra-op threads for BOTH tools (default: all cores, %(default)s here)")
    parser.add_argument("--rounds", type=int, help="interleaved lab/torch rounds per case (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: lab's quick policy, min_run_time 0.05 s, 2 rounds (numbers not meaningful)")
    parser.add_argument("--json", metavar="PATH", help="also write every number and the environment to PATH")
    args = parser.parse_args(argv)
    known = registry.names()
    args.models = args.models.split(",") if args.models else known
    for name in args.models:
        if name not in known:
            parser.error(f"--models={name!r} is not allowed: one of {', '.join(known)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        args.batches = [0]
    if min(args.batches) < 1:
        parser.error("--batches must be comma-separated positive integers, e.g. 1,64")
    if args.threads < 1:
        parser.error(f"--threads={args.threads} is not allowed: a positive integer")
    args.rounds = args.rounds or (2 if args.quick else 5)
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds} is not allowed: a positive integer")
    return args


def check_timer_context(threads: int) -> None:
    """Timer runs its stmt in the calling thread, so the inference_mode we entered
    should hold inside it, and it should use the threads we pass. Check, don't assume."""
    seen = []
    Timer("seen.append((torch.is_inference_mode_enabled(), torch.get_num_threads()))",
          globals={"seen": seen}, num_threads=threads).timeit(1)
    if seen[-1] != (True, threads):
        raise RuntimeError(f"Timer's stmt ran with (inference_mode, threads)={seen[-1]}, expected (True, {threads})")


def lab_p50_ms(fn, policy: TimingPolicy, threads: int) -> tuple[float, float]:
    # Exactly what lab.runner does: set threads around time_calls, per-call samples.
    with hardware.torch_threads(threads):
        stats = time_calls(fn, policy)
    return stats.p50, stats.mean


def torch_median_ms(stmt: str, env: dict, threads: int, min_run_time: float) -> float:
    # num_threads explicitly: Timer's default is 1 thread, whatever torch is set to.
    timer = Timer(stmt, globals=env, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def measure_case(model, x, args, policy, min_run_time) -> dict:
    def forward():  # as lab.runner's forward: one closure call per sample
        return model(x)

    forward()  # untimed first call (allocations, oneDNN primitives) so neither tool pays it in round 0
    lab, lab_means, ref = [], [], []
    for r in range(args.rounds):
        # Alternate which tool goes first, so a slow drift in machine load
        # (the other core busy, frequency changes) hits both equally.
        order = ("lab", "torch") if r % 2 == 0 else ("torch", "lab")
        for tool in order:
            if tool == "lab":
                p50, mean = lab_p50_ms(forward, policy, args.threads)
                lab.append(p50)
                lab_means.append(mean)
            else:
                ref.append(torch_median_ms("model(x)", {"model": model, "x": x}, args.threads, min_run_time))
    # Median over rounds: one round disturbed by a neighbour's job does not move the answer.
    lab_ms, torch_ms = statistics.median(lab), statistics.median(ref)
    return {"lab_p50_ms": lab_ms, "torch_median_ms": torch_ms, "ratio": lab_ms / torch_ms,
            "lab_mean_ms": statistics.median(lab_means), "rounds": args.rounds,
            "lab_p50_ms_rounds": lab, "torch_median_ms_rounds": ref}


def measure_overhead(args, policy, min_run_time) -> dict:
    """The lab's p50 of an empty call is what its two clock reads add to each sample."""
    empty = lambda: None  # noqa: E731
    lab, ref = [], []
    for _ in range(args.rounds):
        lab.append(time_calls(empty, policy).p50 * 1e3)
        ref.append(Timer("pass", num_threads=args.threads).blocked_autorange(min_run_time=min_run_time).median * 1e6)
    return {"overhead_us": statistics.median(lab), "torch_pass_us": statistics.median(ref)}


def within(ratio: float) -> bool:
    return RATIO_TARGET[0] <= ratio <= RATIO_TARGET[1]


def main(argv=None) -> int:
    args = parse_args(argv)
    policy = TimingPolicy.quick() if args.quick else TimingPolicy()
    # Blocked timing gets a little more time than the lab's min_time_s: its median
    # is over blocks of 10-100 calls, and fewer than ~10 blocks makes it noisy.
    min_run_time = 0.05 if args.quick else 1.0
    cases = []
    with torch.inference_mode():
        check_timer_context(args.threads)
        for name in args.models:
            spec = registry.get(name)
            model = spec.build().eval()
            for batch in args.batches:
                print(f"measuring {name} batch {batch} threads {args.threads} "
                      f"({args.rounds} rounds) ...", file=sys.stderr, flush=True)
                start = time.perf_counter()
                x = spec.make_input(batch)
                case = {"model": name, "batch": batch, "threads": args.threads,
                        **measure_case(model, x, args, policy, min_run_time)}
                cases.append(case)
                print(f"  done in {time.perf_counter() - start:.1f} s: ratio {case['ratio']:.3f}",
                      file=sys.stderr, flush=True)
        print("measuring harness overhead (empty call) ...", file=sys.stderr, flush=True)
        overhead = measure_overhead(args, policy, min_run_time)

    lo, hi = RATIO_TARGET
    print(f"\nlab p50 (per-call samples) vs torch.utils.benchmark blocked_autorange median; "
          f"target ratio {lo:.2f}-{hi:.2f}{' [--quick: not meaningful]' if args.quick else ''}")
    header = f"{'model':<16} {'batch':>5} {'threads':>7} {'lab p50 ms':>11} {'torch med ms':>12} " \
             f"{'ratio':>6} {'in target':>9} {'lab mean/torch':>14}"
    print(header)
    print("-" * len(header))
    for c in cases:
        print(f"{c['model']:<16} {c['batch']:>5} {c['threads']:>7} {c['lab_p50_ms']:>11.4f} "
              f"{c['torch_median_ms']:>12.4f} {c['ratio']:>6.3f} {'yes' if within(c['ratio']) else 'NO':>9} "
              f"{c['lab_mean_ms'] / c['torch_median_ms']:>14.3f}")
    ok_overhead = overhead["overhead_us"] < OVERHEAD_TARGET_US
    print(f"\noverhead: lab p50 of an empty call {overhead['overhead_us']:.3f} us "
          f"(target < {OVERHEAD_TARGET_US:.0f} us: {'yes' if ok_overhead else 'NO'}); "
          f"torch Timer 'pass' {overhead['torch_pass_us']:.4f} us per call")
    n_ok = sum(within(c["ratio"]) for c in cases)
    print(f"{n_ok} of {len(cases)} ratios within {lo:.2f}-{hi:.2f}; "
          f"overhead {overhead['overhead_us']:.2f} µs (target < {OVERHEAD_TARGET_US:.0f} µs)")

    if args.json:
        result = {"cases": cases, **overhead, "quick": args.quick, "min_run_time_s": min_run_time,
                  "ratio_target": list(RATIO_TARGET), "overhead_target_us": OVERHEAD_TARGET_US,
                  "environment": hardware.environment("cpu")}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
