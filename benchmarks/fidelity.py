"""Fidelity of the lab's timer: lab.measure.timing against two references, side by side.

For every built-in model (lab.models.registry.names()) at each batch size, this
times the SAME model object on the SAME input tensor with the SAME thread count
under torch.inference_mode() three ways, and compares the MEAN time per call:

  lab     ``time_calls``: the clock read around every single call (per-call samples);
          its mean, and beside it its p50 and the skew mean / p50;
  Timer   torch.utils.benchmark ``Timer(...).blocked_autorange()``: blocks of calls
          between two clock reads; its mean over blocks;
  block   one ``time.perf_counter()`` pair around N back-to-back calls of the same
          closure the lab times (N chosen so a block lasts >= 0.2 s; 0.05 s with
          --quick), repeated a few times: no per-call clock read, no per-call
          bookkeeping, nothing but the loop. Total time / total calls.

Timer and the block get a window at least as long as the lab's in the same
round: the lab samples longer when its samples are noisy (up to max_time_s),
and on a shared machine a longer window holds more stalls, so unequal windows
alone move a ratio of means by 10 % or more.

Why means: a median of single calls sits below a median of block means when the
distribution is right-skewed (a block's mean folds in its stalls), so last
week's p50-vs-Timer-median ratio mixed two things: the statistic and the clock.
Comparing means takes the statistic out; the lab's p50 is printed beside its
mean with the skew (mean / p50) that accounts for the rest of that old gap. The
old ratio (lab p50 / Timer median) stays in the table and the JSON. An empty
call is timed the same three ways, and N clock reads in a block, so the per-call
cost the lab's harness adds to each sample is printed in ns.

Fairness on a shared machine: the three alternate, round by round (the order
rotates), with the same model object, input tensor, thread count (checked inside
each tool before any case) and inference_mode; a round during which other
processes used the CPU is retried (and reported). Each figure is the median of
its per-round figures; each ratio is the median of the per-round ratios, whose
parts were measured seconds apart. With --threads at all cores (the default),
another process on the CPU stalls every parallel region of a forward pass, by up
to a scheduler slice; on a busy machine --threads 1 is steadier.

Targets: the lab's mean within 0.97-1.03 of both references; harness overhead
under 10 µs per timed call. The exit code is 0 whatever the numbers (a
benchmark, not a test); 1 when a case could not run (its error is in the table;
the other cases still run).

    .venv/bin/python benchmarks/fidelity.py [--quick] [--models a,b] [--batches 1,64]
                                            [--threads N] [--rounds R] [--max-wait S]
                                            [--max-case-s S] [--json PATH]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time

import torch
from torch.utils.benchmark import Timer

from lab import hardware
from lab.measure.contention import CpuContention
from lab.measure.timing import TimingPolicy, time_calls
from lab.models import registry

RATIO_TARGET = (0.97, 1.03)  # lab mean / each reference's mean
OVERHEAD_TARGET_US = 10.0
BLOCK_S = 0.2  # the block reference: N calls lasting at least this long (BLOCK_S_QUICK with --quick) ...
BLOCK_S_QUICK = 0.05
BLOCK_REPEATS = 3  # ... repeated this many times per round (2 with --quick)
CLOCK_READS = 200_000  # perf_counter calls in one block, to price a clock read
# A round counts as quiet when other processes used under this many cores on
# average while it ran. On 2 cores a neighbour's job stalls every parallel
# region of a 2-thread forward pass, and the two tools see different stalls.
QUIET_CORES = 0.1


# Other processes' CPU use, read as the lab reads it for every row (lab.measure.contention).
METER = CpuContention()


def wait_for_quiet(max_wait_s: float) -> None:
    """Start a round only when the machine is quiet, for at most max_wait_s."""
    deadline = time.perf_counter() + max_wait_s
    while time.perf_counter() < deadline:
        with METER.window() as window:
            time.sleep(0.25)
        if window.other_cores is not None and window.other_cores < QUIET_CORES:
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
    parser.add_argument("--fixed-window", type=float, default=None, metavar="S",
                        help="a diagnostic: the lab samples exactly S seconds (min_time_s = max_time_s), so its "
                             "adaptive stop (at the first steady spell) cannot bias its mean")
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


def check_context(threads: int) -> dict:
    """Each tool runs its statement in the calling thread, so the inference_mode we entered
    should hold inside it, and each should use the threads we ask for. Check, don't assume:
    returns (inference_mode, threads) as seen inside the lab, Timer and the block loop."""
    seen = {}

    def probe(tool):
        def record():
            seen[tool] = (torch.is_inference_mode_enabled(), torch.get_num_threads())
        return record

    lab_timing(probe("lab"), TimingPolicy(warmup_runs=0, warmup_s=0.0, min_runs=1, min_time_s=0.0), threads)
    Timer("record()", globals={"record": probe("Timer")}, num_threads=threads).timeit(1)
    block_timing(probe("block"), 1, 1, threads)
    for tool, got in seen.items():
        if got != (True, threads):
            raise RuntimeError(f"{tool} ran with (inference_mode, threads)={got}, expected (True, {threads})")
    return {tool: list(got) for tool, got in seen.items()}


def lab_timing(fn, policy: TimingPolicy, threads: int):
    # Exactly what lab.runner does: set threads around time_calls, per-call samples.
    with hardware.torch_threads(threads):
        return time_calls(fn, policy)


def torch_timing(stmt: str, env: dict, threads: int, min_run_time: float):
    # num_threads explicitly: Timer's default is 1 thread, whatever torch is set to.
    return Timer(stmt, globals=env, num_threads=threads).blocked_autorange(min_run_time=min_run_time)


def block_timing(fn, calls: int, repeats: int, threads: int) -> list[float]:
    """ms per call of each of ``repeats`` blocks: one clock read before and one after ``calls``
    back-to-back calls of ``fn``, nothing else inside the block but the loop."""
    clock = time.perf_counter
    per_call = []
    with hardware.torch_threads(threads):
        for _ in range(repeats):
            start = clock()
            for _ in range(calls):
                fn()
            per_call.append((clock() - start) * 1e3 / calls)
    return per_call


def window_s(stats) -> float:
    """Seconds the lab spent inside its timed calls (the sum of its samples)."""
    return sum(stats.samples_ms) / 1e3


def block_calls(mean_ms: float, block_s: float) -> int:
    """N such that N calls of ``mean_ms`` last at least ``block_s``."""
    return max(1, math.ceil(block_s * 1e3 / max(mean_ms, 1e-6)))


def as_blocks_ms(samples_ms, block: int) -> float:
    """Timer's statistic on the lab's samples: median of the means of consecutive blocks.

    Separates the two causes of a ratio off 1: if this agrees with Timer while the
    p50 does not, the clocks agree and the gap is median-of-calls vs mean-of-blocks."""
    n = len(samples_ms) // block
    if n == 0:
        return statistics.fmean(samples_ms)
    return statistics.median(statistics.fmean(samples_ms[i * block:(i + 1) * block]) for i in range(n))


ORDERS = (("lab", "torch", "block"), ("torch", "block", "lab"), ("block", "lab", "torch"))


def measure_case(model, x, args, policy, min_run_time) -> dict:
    # A model may take a tuple of tensors (e.g. input_ids, attention_mask): unpack it, as lab.runner does.
    many = isinstance(x, (tuple, list))
    stmt = "model(*x)" if many else "model(x)"

    def forward():  # as lab.runner's forward: one closure call per sample (the block loop calls it too)
        return model(*x) if many else model(x)

    block_s = BLOCK_S_QUICK if args.quick else BLOCK_S
    repeats = 2 if args.quick else BLOCK_REPEATS
    with hardware.torch_threads(args.threads):
        forward()  # untimed first call (allocations, oneDNN primitives) so no tool pays it in round 0
    rounds, case_start = [], time.perf_counter()
    # Keep going until `rounds` rounds were quiet, trying at most twice that many
    # and starting none after --max-case-s; busy rounds stay in the JSON but
    # count only when too few rounds were quiet.
    attempts = args.rounds if args.max_wait == 0 else 2 * args.rounds
    while (len(rounds) < attempts and sum(r["quiet"] for r in rounds) < args.rounds
           and not (rounds and time.perf_counter() - case_start > args.max_case_s)):
        wait_for_quiet(args.max_wait)
        with METER.window() as window:  # the three tools, under one contention window
            # Rotate which tool goes first, so a drift in machine load hits all three alike. Round 0
            # starts with the lab, so Timer's run time and the block's N always know a lab mean.
            for tool in ORDERS[len(rounds) % len(ORDERS)]:
                if tool == "lab":
                    lab = lab_timing(forward, policy, args.threads)
                elif tool == "torch":
                    # At least the lab's min_runs calls (for a slow model, a second a call,
                    # min_run_time alone would give Timer a single block), and as long a
                    # window as the lab sampled: a noisy lab run samples up to max_time_s,
                    # and on a shared machine a longer window holds more stalls.
                    run_time = max(min_run_time, policy.min_runs * lab.p50 / 1e3, window_s(lab))
                    ref = torch_timing(stmt, {"model": model, "x": x}, args.threads, run_time)
                else:
                    # Blocks of >= block_s each, together about as long as the lab's window.
                    calls = block_calls(lab.mean, max(block_s, window_s(lab) / repeats))
                    blocks = block_timing(forward, calls, repeats, args.threads)
        load = window.other_cores  # None where it can't be read: never counted as quiet
        block_mean = statistics.fmean(blocks)  # equal-sized blocks: total time / total calls
        rounds.append({"lab_p50_ms": lab.p50, "lab_mean_ms": lab.mean, "lab_samples": lab.n,
                       "lab_blocked_ms": as_blocks_ms(lab.samples_ms, ref.number_per_run),
                       "torch_median_ms": ref.median * 1e3, "torch_mean_ms": ref.mean * 1e3,
                       "torch_blocks": len(ref.raw_times), "torch_block_size": ref.number_per_run,
                       "torch_min_run_time_s": run_time,
                       "block_mean_ms": block_mean, "block_ms": blocks, "block_calls": calls,
                       "foreign_cores": load, "quiet": load is not None and load < QUIET_CORES})
    used = [r for r in rounds if r["quiet"]] or rounds

    def median(key):  # median over rounds of one tool's per-round figure
        return statistics.median(r[key] for r in used)

    def ratio(num, den):  # median over rounds of each round's own num / den
        return statistics.median(r[num] / r[den] for r in used)

    # Each ratio is the median of each round's own ratio: the figures of one round
    # are measured seconds apart, while this machine shifts speed between rounds
    # (by 10-30 %), so dividing each tool's median over all rounds can set one
    # round's fast spell against another's slow one.
    ratios = [r["lab_p50_ms"] / r["torch_median_ms"] for r in used]
    lab_ms, torch_ms = median("lab_p50_ms"), median("torch_median_ms")
    return {"lab_mean_ms": median("lab_mean_ms"), "torch_mean_ms": median("torch_mean_ms"),
            "block_mean_ms": median("block_mean_ms"),
            "mean_ratio_torch": ratio("lab_mean_ms", "torch_mean_ms"),
            "mean_ratio_block": ratio("lab_mean_ms", "block_mean_ms"),
            "skew": ratio("lab_mean_ms", "lab_p50_ms"),
            "block_calls": used[-1]["block_calls"], "block_repeats": repeats, "block_s": block_s,
            # Last week's comparison, kept: lab p50 / Timer's median of block means.
            "lab_p50_ms": lab_ms, "torch_median_ms": torch_ms, "ratio": statistics.median(ratios),
            "ratio_of_medians": lab_ms / torch_ms, "round_ratio_min": min(ratios), "round_ratio_max": max(ratios),
            "blocked_ratio": ratio("lab_blocked_ms", "torch_median_ms"),
            "rounds": len(used), "quiet_rounds": sum(r["quiet"] for r in rounds), "all_rounds": rounds}


def measure_overhead(args, policy, min_run_time) -> dict:
    """What the lab's harness adds to every sample, priced three ways on an empty call:
    the lab's mean and p50 of ``lambda: None`` (two clock reads + the call + the harness),
    the same call back to back in a block (the call and the loop only), and one clock read."""
    empty = lambda: None  # noqa: E731
    lab_p50, lab_mean, ref, block, clock = [], [], [], [], []
    reads = CLOCK_READS // (10 if args.quick else 1)
    for _ in range(min(args.rounds, 3)):  # pure-Python calls: steady, few rounds suffice
        stats = lab_timing(empty, policy, args.threads)
        lab_p50.append(stats.p50 * 1e6)
        lab_mean.append(stats.mean * 1e6)
        ref.append(torch_timing("pass", {}, args.threads, min_run_time).median * 1e9)
        block.append(statistics.fmean(block_timing(empty, reads, 1, args.threads)) * 1e6)
        perf_counter, start = time.perf_counter, time.perf_counter()
        for _ in range(reads):
            perf_counter()
        clock.append((time.perf_counter() - start) * 1e9 / reads)
    overhead = {"overhead_us": statistics.median(lab_p50) / 1e3, "lab_empty_mean_ns": statistics.median(lab_mean),
                "torch_pass_us": statistics.median(ref) / 1e3, "block_empty_ns": statistics.median(block),
                "clock_read_ns": statistics.median(clock)}
    # Inside each lab sample but not inside a block's per-call share: about one clock read
    # (the tail of the first, the head of the second) and the harness's call into fn.
    overhead["harness_ns_per_sample"] = overhead["lab_empty_mean_ns"] - overhead["block_empty_ns"]
    return overhead


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
            outcome = case["error"] or (f"lab/Timer {case['mean_ratio_torch']:.3f}, "
                                        f"lab/block {case['mean_ratio_block']:.3f}, "
                                        f"{case['quiet_rounds']} of {len(case['all_rounds'])} rounds quiet")
            print(f"  done in {time.perf_counter() - start:.1f} s: {outcome}", file=sys.stderr, flush=True)
    return cases


def print_report(cases, overhead, quick: bool, out=None) -> None:
    out = sys.stdout if out is None else out
    lo, hi = RATIO_TARGET
    print(f"\nmean time per call: the lab's per-call samples vs torch.utils.benchmark Timer vs a block of "
          f"back-to-back calls; target lab mean / each {lo:.2f}-{hi:.2f}"
          f"{' [--quick: not meaningful]' if quick else ''}", file=out)
    header = (f"{'model':<20} {'batch':>5} {'thr':>3} {'lab mean ms':>11} {'Timer mean':>10} {'block mean':>10} "
              f"{'lab/Timer':>9} {'lab/block':>9} {'in target':>9} {'lab p50 ms':>10} {'skew':>5} "
              f"{'p50/T-med':>9} {'quiet':>5}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for c in cases:
        row = f"{c['model']:<20} {c['batch']:>5} {c['threads']:>3} "
        if c["error"]:
            print(row + f"error: {c['error']}", file=out)
            continue
        ok = within(c["mean_ratio_torch"]) and within(c["mean_ratio_block"])
        quiet = f"{c['quiet_rounds']}/{len(c['all_rounds'])}"
        print(row + f"{c['lab_mean_ms']:>11.4f} {c['torch_mean_ms']:>10.4f} {c['block_mean_ms']:>10.4f} "
              f"{c['mean_ratio_torch']:>9.3f} {c['mean_ratio_block']:>9.3f} {'yes' if ok else 'NO':>9} "
              f"{c['lab_p50_ms']:>10.4f} {c['skew']:>5.3f} {c['ratio']:>9.3f} {quiet:>5}", file=out)
    print("lab/Timer, lab/block: median over the rounds used (the quiet ones, if any) of each round's ratio of "
          "means\nblock: perf_counter around N back-to-back calls (N: a block >= "
          f"{BLOCK_S_QUICK if quick else BLOCK_S:g} s), repeated; total time / calls\n"
          "skew: lab mean / lab p50 (> 1: right-skewed, so a p50 reads below any mean)\n"
          "p50/T-med: last week's ratio, lab p50 / Timer's median of block means (~ lab/Timer / skew)\n"
          "quiet: rounds without other processes on the CPU / rounds run", file=out)
    ok_overhead = overhead["overhead_us"] < OVERHEAD_TARGET_US
    print(f"\noverhead: lab p50 of an empty call {overhead['overhead_us']:.3f} µs "
          f"(target < {OVERHEAD_TARGET_US:.0f} µs: {'yes' if ok_overhead else 'NO'}); "
          f"torch Timer 'pass' {overhead['torch_pass_us']:.4f} µs per call", file=out)
    measured = [c for c in cases if not c["error"]]
    smallest = min((c["lab_mean_ms"] for c in measured), default=None)
    share = "" if smallest is None else \
        f"; {100 * overhead['harness_ns_per_sample'] / (smallest * 1e6):.3f} % of the fastest case's mean"
    print(f"per-sample harness cost: lab mean of an empty call {overhead['lab_empty_mean_ns']:.0f} ns - the same "
          f"call in a block {overhead['block_empty_ns']:.0f} ns = {overhead['harness_ns_per_sample']:.0f} ns per "
          f"sample (one clock read: {overhead['clock_read_ns']:.0f} ns){share}", file=out)
    n_ok = sum(not c["error"] and within(c["mean_ratio_torch"]) and within(c["mean_ratio_block"]) for c in cases)
    failed = sum(bool(c["error"]) for c in cases)
    print(f"{n_ok} of {len(cases)} lab means within {lo:.2f}-{hi:.2f} of both references"
          f"{f' ({failed} failed)' if failed else ''}; overhead {overhead['overhead_us']:.2f} µs "
          f"(target < {OVERHEAD_TARGET_US:.0f} µs)", file=out)


def main(argv=None) -> int:
    args = parse_args(argv)
    policy = TimingPolicy.quick() if args.quick else TimingPolicy()
    if args.fixed_window is not None:  # adaptive stopping off: every lab run samples exactly this long
        policy = dataclasses.replace(policy, min_time_s=args.fixed_window, max_time_s=args.fixed_window)
    # The same minimum time as the lab's policy, so both tools sample a window of
    # about the same length (on this machine the load changes every second or two).
    min_run_time = policy.min_time_s
    with torch.inference_mode():
        threads_seen = check_context(args.threads)
        cases = run_cases(args, policy, min_run_time)
        print("measuring harness overhead (empty call) ...", file=sys.stderr, flush=True)
        overhead = measure_overhead(args, policy, min_run_time)
    print_report(cases, overhead, args.quick)
    if args.json:
        result = {"cases": cases, **overhead, "quick": args.quick, "min_run_time_s": min_run_time,
                  "ratio_target": list(RATIO_TARGET), "overhead_target_us": OVERHEAD_TARGET_US,
                  "threads_seen": threads_seen,
                  "environment": hardware.environment("cpu")}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    # Targets missed are a result, not a failure; a case that could not run is.
    return 1 if any(c["error"] for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
