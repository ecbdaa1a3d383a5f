"""Fidelity of the lab's timer: lab.measure.timing vs torch.utils.benchmark, side by side.

For every built-in model (lab.models.registry.names()) at each batch size, this
times the SAME model object on the SAME input tensor with the SAME thread count
under torch.inference_mode(), once with the lab's ``time_calls`` (the p50 of
per-call samples) and once with torch.utils.benchmark's
``Timer(...).blocked_autorange()`` (the median of per-block means), and prints
the ratio lab_p50 / torch_median (the median over rounds of each round's
ratio, see below). It also times an empty call with both tools: the lab's p50
of ``lambda: None`` is the bias its clock reads add to every sample.

Why the two differ at all: the lab reads the clock around every single call so
it can keep each sample and report percentiles and a noise flag; Timer runs a
block of calls between two clock reads and averages, which hides per-call
timer cost but also folds stalls into each block's mean. On a quiet machine
the two should agree within a few per cent; on a noisy one the median of
per-call samples sits a little below the blocked numbers (a right-skewed
distribution's median is below its mean). The ``lab blocked/torch`` column
applies Timer's own statistic to the lab's samples to tell the two apart.

Fairness on a shared machine: the two tools alternate, round by round, with the
same model object, input tensor, thread count and inference_mode; a round during
which other processes used the CPU is retried (and reported). Each tool's
figure is the median of its per-round figures; the ratio is the median of the
per-round ratios, whose two halves were measured seconds apart. With --threads
at all cores (the default), another process on the CPU stalls every parallel
region of a forward pass, by up to a scheduler slice; on a busy machine
--threads 1 is steadier.

Targets: every ratio within 0.95-1.05; overhead under 10 µs per timed call.
The exit code is 0 whatever the numbers (a benchmark, not a test); 1 when a
case could not run (its error is in the table; the other cases still run).

    .venv/bin/python benchmarks/fidelity.py [--quick] [--models a,b] [--batches 1,64]
                                            [--threads N] [--rounds R] [--max-wait S]
                                            [--max-case-s S] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
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
# A round counts as quiet when other processes used under this many cores on
# average while it ran. On 2 cores a neighbour's job stalls every parallel
# region of a 2-thread forward pass, and the two tools see different stalls.
QUIET_CORES = 0.1


def _cpu_snapshot():
    """(busy CPU seconds of the whole machine, our own CPU seconds, wall seconds); None off Linux."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait
    return busy, time.process_time(), time.perf_counter()


def foreign_cores(since) -> float:
    """Cores' worth of CPU that other processes used since ``since`` (0.0 when unknown)."""
    now = _cpu_snapshot()
    if since is None or now is None:
        return 0.0
    return max(0.0, ((now[0] - since[0]) - (now[1] - since[1])) / max(now[2] - since[2], 1e-9))


def wait_for_quiet(max_wait_s: float) -> None:
    """Start a round only when the machine is quiet, for at most max_wait_s."""
    deadline = time.perf_counter() + max_wait_s
    while time.perf_counter() < deadline:
        since = _cpu_snapshot()
        time.sleep(0.25)
        if foreign_cores(since) < QUIET_CORES:
            return


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n    ")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated model names (default: every built-in model)")
    parser.add_argument("--batches", default="1,64", help="comma-separated batch sizes (default: 1,64)")
    parser.add_argument("--threads", type=int, default=hardware.cpu_count(),
                        help="torch intra-op threads for BOTH tools (default: all cores, %(default)s here)")
    parser.add_argument("--rounds", type=int, help="interleaved lab/torch rounds per case (default 7; 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: the lab's quick policy, Timer's min_run_time to match, 2 rounds "
                             "(numbers not meaningful)")
    parser.add_argument("--max-wait", type=float, default=None, metavar="S",
                        help="before each round, wait up to S seconds for other processes to go quiet "
                             "(default 5; 0 with --quick; 0 also stops retrying busy rounds)")
    parser.add_argument("--max-case-s", type=float, default=60.0, metavar="S",
                        help="start no new round of a case after S seconds (default 60; a slow model "
                             "gets fewer rounds)")
    parser.add_argument("--json", metavar="PATH", help="also write every number and the environment to PATH")
    args = parser.parse_args(argv)
    known = registry.names()
    args.models = args.models.split(",") if args.models else known
    for name in args.models:
        if name not in known:
            parser.error(f"--models={name!r} is not allowed: one of {', '.join(known)}")
    text = args.batches
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        args.batches = [0]
    if min(args.batches) < 1:
        parser.error(f"--batches={text!r} is not allowed: comma-separated positive integers, e.g. 1,64")
    if args.rounds is None:
        args.rounds = 2 if args.quick else 7
    if args.max_wait is None:
        args.max_wait = 0.0 if args.quick else 5.0
    for flag, value in (("--threads", args.threads), ("--rounds", args.rounds)):
        if value < 1:
            parser.error(f"{flag}={value} is not allowed: a positive integer")
    if args.max_case_s < 0:
        parser.error(f"--max-case-s={args.max_case_s} is not allowed: seconds, 0 or more")
    if args.max_wait < 0:
        parser.error(f"--max-wait={args.max_wait} is not allowed: seconds, 0 or more")
    return args


def check_timer_context(threads: int) -> None:
    """Timer runs its stmt in the calling thread, so the inference_mode we entered
    should hold inside it, and it should use the threads we pass. Check, don't assume."""
    seen = []
    Timer("seen.append((torch.is_inference_mode_enabled(), torch.get_num_threads()))",
          globals={"seen": seen}, num_threads=threads).timeit(1)
    if seen[-1] != (True, threads):
        raise RuntimeError(f"Timer's stmt ran with (inference_mode, threads)={seen[-1]}, expected (True, {threads})")


def lab_timing(fn, policy: TimingPolicy, threads: int):
    # Exactly what lab.runner does: set threads around time_calls, per-call samples.
    with hardware.torch_threads(threads):
        return time_calls(fn, policy)


def torch_timing(stmt: str, env: dict, threads: int, min_run_time: float):
    # num_threads explicitly: Timer's default is 1 thread, whatever torch is set to.
    return Timer(stmt, globals=env, num_threads=threads).blocked_autorange(min_run_time=min_run_time)


def as_blocks_ms(samples_ms, block: int) -> float:
    """Timer's statistic on the lab's samples: median of the means of consecutive blocks.

    Separates the two causes of a ratio off 1: if this agrees with Timer while the
    p50 does not, the clocks agree and the gap is median-of-calls vs mean-of-blocks."""
    n = len(samples_ms) // block
    if n == 0:
        return statistics.fmean(samples_ms)
    return statistics.median(statistics.fmean(samples_ms[i * block:(i + 1) * block]) for i in range(n))


def measure_case(model, x, args, policy, min_run_time) -> dict:
    # A model may take a tuple of tensors (e.g. input_ids, attention_mask): unpack it, as lab.runner does.
    many = isinstance(x, (tuple, list))
    stmt = "model(*x)" if many else "model(x)"

    def forward():  # as lab.runner's forward: one closure call per sample
        return model(*x) if many else model(x)

    with hardware.torch_threads(args.threads):
        forward()  # untimed first call (allocations, oneDNN primitives) so neither tool pays it in round 0
    rounds, case_start = [], time.perf_counter()
    # Keep going until `rounds` rounds were quiet, trying at most twice that many
    # and starting none after --max-case-s; busy rounds stay in the JSON but
    # count only when too few rounds were quiet.
    attempts = args.rounds if args.max_wait == 0 else 2 * args.rounds
    while (len(rounds) < attempts and sum(r["quiet"] for r in rounds) < args.rounds
           and not (rounds and time.perf_counter() - case_start > args.max_case_s)):
        wait_for_quiet(args.max_wait)
        since = _cpu_snapshot()
        # Alternate which tool goes first, so a drift in machine load hits both equally.
        # Round 0 starts with the lab, so Timer always knows the latest lab p50.
        for tool in ("lab", "torch") if len(rounds) % 2 == 0 else ("torch", "lab"):
            if tool == "lab":
                lab = lab_timing(forward, policy, args.threads)
            else:
                # At least the lab's min_runs calls: for a slow model (a second a
                # call) min_run_time alone would give Timer a single block.
                run_time = max(min_run_time, policy.min_runs * lab.p50 / 1e3)
                ref = torch_timing(stmt, {"model": model, "x": x}, args.threads, run_time)
        load = foreign_cores(since)
        rounds.append({"lab_p50_ms": lab.p50, "lab_mean_ms": lab.mean, "lab_samples": lab.n,
                       "lab_blocked_ms": as_blocks_ms(lab.samples_ms, ref.number_per_run),
                       "torch_median_ms": ref.median * 1e3, "torch_blocks": len(ref.raw_times),
                       "torch_block_size": ref.number_per_run, "torch_min_run_time_s": run_time,
                       "foreign_cores": load, "quiet": load < QUIET_CORES})
    used = [r for r in rounds if r["quiet"]] or rounds

    def median(key):  # median over rounds of one tool's per-round figure
        return statistics.median(r[key] for r in used)

    # The ratio is the median of each round's own lab/torch ratio: the two figures
    # of one round are measured seconds apart, while this machine shifts speed
    # between rounds (by 10-30 %), so dividing each tool's median over all rounds
    # can set one round's fast spell against another's slow one.
    ratios = [r["lab_p50_ms"] / r["torch_median_ms"] for r in used]
    lab_ms, torch_ms = median("lab_p50_ms"), median("torch_median_ms")
    return {"lab_p50_ms": lab_ms, "torch_median_ms": torch_ms, "ratio": statistics.median(ratios),
            "ratio_of_medians": lab_ms / torch_ms, "round_ratio_min": min(ratios), "round_ratio_max": max(ratios),
            "blocked_ratio": statistics.median(r["lab_blocked_ms"] / r["torch_median_ms"] for r in used),
            "lab_mean_ms": median("lab_mean_ms"), "rounds": len(used),
            "quiet_rounds": sum(r["quiet"] for r in rounds), "all_rounds": rounds}


def measure_overhead(args, policy, min_run_time) -> dict:
    """The lab's p50 of an empty call is what its two clock reads add to each sample."""
    empty = lambda: None  # noqa: E731
    lab, ref = [], []
    for _ in range(min(args.rounds, 3)):  # a pure-Python call: steady, few rounds suffice
        lab.append(lab_timing(empty, policy, args.threads).p50 * 1e3)
        ref.append(torch_timing("pass", {}, args.threads, min_run_time).median * 1e6)
    return {"overhead_us": statistics.median(lab), "torch_pass_us": statistics.median(ref)}


def within(ratio: float) -> bool:
    return RATIO_TARGET[0] <= ratio <= RATIO_TARGET[1]


def run_cases(args, policy, min_run_time) -> list[dict]:
    """Every (model, batch) case; one that fails (a model that will not build, say)
    becomes a case with ``error`` set and the others go on."""
    cases = []
    for name in args.models:
        model, error = None, None
        try:
            spec = registry.get(name)
            model = spec.build().eval()
        except Exception as exc:  # noqa: BLE001 — reported in the table; the exit code says it failed
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        for batch in args.batches:
            case = {"model": name, "batch": batch, "threads": args.threads, "error": error}
            print(f"measuring {name} batch {batch} threads {args.threads} ({args.rounds} rounds) ...",
                  file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                if model is not None:
                    case.update(measure_case(model, spec.make_input(batch), args, policy, min_run_time))
            except Exception as exc:  # noqa: BLE001
                case["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            cases.append(case)
            outcome = case["error"] or (f"ratio {case['ratio']:.3f}, "
                                        f"{case['quiet_rounds']} of {len(case['all_rounds'])} rounds quiet")
            print(f"  done in {time.perf_counter() - start:.1f} s: {outcome}", file=sys.stderr, flush=True)
    return cases


def print_report(cases, overhead, quick: bool) -> None:
    lo, hi = RATIO_TARGET
    print(f"\nlab p50 (per-call samples) vs torch.utils.benchmark blocked_autorange median; "
          f"target ratio {lo:.2f}-{hi:.2f}{' [--quick: not meaningful]' if quick else ''}")
    header = f"{'model':<20} {'batch':>5} {'threads':>7} {'lab p50 ms':>10} {'torch med ms':>12} {'ratio':>6} " \
             f"{'in target':>9} {'round ratios':>12} {'quiet':>5} {'lab blocked/torch':>17}"
    print(header)
    print("-" * len(header))
    for c in cases:
        row = f"{c['model']:<20} {c['batch']:>5} {c['threads']:>7} "
        if c["error"]:
            print(row + f"error: {c['error']}")
            continue
        spread = f"{c['round_ratio_min']:.2f}-{c['round_ratio_max']:.2f}"
        quiet = f"{c['quiet_rounds']}/{len(c['all_rounds'])}"
        print(row + f"{c['lab_p50_ms']:>10.4f} {c['torch_median_ms']:>12.4f} {c['ratio']:>6.3f} "
              f"{'yes' if within(c['ratio']) else 'NO':>9} {spread:>12} {quiet:>5} "
              f"{c['blocked_ratio']:>17.3f}")
    print("lab p50, torch med: medians over the rounds used (the quiet ones, if any)\n"
          "ratio: median over those rounds of each round's lab p50 / torch median; round ratios: their range\n"
          "quiet: rounds without other processes on the CPU / rounds run\n"
          "lab blocked/torch: as ratio, with Timer's statistic (median of block means) on the lab's own samples")
    ok_overhead = overhead["overhead_us"] < OVERHEAD_TARGET_US
    print(f"\noverhead: lab p50 of an empty call {overhead['overhead_us']:.3f} µs "
          f"(target < {OVERHEAD_TARGET_US:.0f} µs: {'yes' if ok_overhead else 'NO'}); "
          f"torch Timer 'pass' {overhead['torch_pass_us']:.4f} µs per call")
    n_ok = sum(not c["error"] and within(c["ratio"]) for c in cases)
    failed = sum(bool(c["error"]) for c in cases)
    print(f"{n_ok} of {len(cases)} ratios within {lo:.2f}-{hi:.2f}{f' ({failed} failed)' if failed else ''}; "
          f"overhead {overhead['overhead_us']:.2f} µs (target < {OVERHEAD_TARGET_US:.0f} µs)")


def main(argv=None) -> int:
    args = parse_args(argv)
    policy = TimingPolicy.quick() if args.quick else TimingPolicy()
    # The same minimum time as the lab's policy, so both tools sample a window of
    # about the same length (on this machine the load changes every second or two).
    min_run_time = policy.min_time_s
    with torch.inference_mode():
        check_timer_context(args.threads)
        cases = run_cases(args, policy, min_run_time)
        print("measuring harness overhead (empty call) ...", file=sys.stderr, flush=True)
        overhead = measure_overhead(args, policy, min_run_time)
    print_report(cases, overhead, args.quick)
    if args.json:
        result = {"cases": cases, **overhead, "quick": args.quick, "min_run_time_s": min_run_time,
                  "ratio_target": list(RATIO_TARGET), "overhead_target_us": OVERHEAD_TARGET_US,
                  "environment": hardware.environment("cpu")}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    # Targets missed are a result, not a failure; a case that could not run is.
    return 1 if any(c["error"] for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
