"""Fidelity of the lab's timer: lab.measure.timing against two references, side by side.

For every built-in model (lab.models.registry.names()) at each batch size, this
times the SAME model object on the SAME input tensor with the SAME thread count
under torch.inference_mode() three ways, and compares the MEAN time per call:

  lab     ``time_calls``: the clock read around every single call (per-call samples);
          its mean, and beside it its p50 and the skew mean / p50;
  Timer   torch.utils.benchmark ``Timer(...).timeit(number)``: blocks of ``number`` calls
          between two clock reads (``number`` chosen once by ``blocked_autorange``);
  block   one ``time.perf_counter()`` pair around N back-to-back calls of the same
          closure the lab times: no per-call clock read, no per-call bookkeeping,
          nothing but the loop. Total time / total calls.

Why slices. This machine changes speed by 10-50 % from one second to the next
(a neighbour's job, frequency, the host): last week's rounds, where each tool
sampled for half a second to five seconds in turn, gave per-round ratios from
0.51 to 1.78 for the same case, so 5 of 10 case medians missed 0.97-1.03 though
no tool was biased. Each round is now SLICES short slices (about SLICE_S each);
in every slice the three tools each make the same number of calls, in an order
that rotates slice by slice. So all three sample the same seconds with the same
weight, and each tool's mean is its total time over its total calls. (Equal
counts, not equal times: a window of fixed time gives a slow spell fewer calls,
a fixed count spends longer in it, so tools that stop differently read a
drifting machine differently although neither clock is wrong.) The lab runs in
each slice exactly as lab.runner runs it (``time_calls``, the same closure,
threads set around it), stopping at the slice's count rather than at its
adaptive stop (sample until the IQR is steady); that stop is checked for bias
separately, on a fake clock, by tests/measure/test_timing.py.

Why means: a median of single calls sits below a median of block means when the
distribution is right-skewed (a block's mean folds in its stalls), so last
week's p50-vs-Timer-median ratio mixed two things: the statistic and the clock.
Comparing means takes the statistic out; the lab's p50 is printed beside its
mean with the skew (mean / p50) that accounts for the rest of that old gap. The
old ratio (lab p50 / Timer's median block) stays in the table and the JSON. An
empty call is timed the same three ways, and N clock reads in a block, so the
per-call cost the lab's harness adds to each sample is printed in ns.

Fairness on a shared machine: the same model object, input tensor, thread count
(checked inside each tool before any case) and inference_mode for all three; a
round during which other processes used the CPU is retried (and reported); each
ratio is the ratio of the tools' pooled means over the quiet rounds. With
--threads at all cores (the default), another process on the CPU stalls every
parallel region of a forward pass, by up to a scheduler slice; on a busy machine
--threads 1 is steadier.

Targets: the lab's mean within 0.97-1.03 of both references; harness overhead
under 10 µs per timed call. The exit code is 0 whatever the numbers (a
benchmark, not a test); 1 when a case could not run (its error is in the table;
the other cases still run).

    .venv/bin/python benchmarks/fidelity.py [--quick] [--models a,b] [--batches 1,64]
                                            [--threads N] [--rounds R] [--slices K] [--max-wait S]
                                            [--max-case-s S] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
from torch.utils.benchmark import Timer

from lab import hardware
from lab.measure.contention import CpuContention
from lab.measure.timing import TimingPolicy, summarize, time_calls
from lab.models import registry

RATIO_TARGET = (0.97, 1.03)  # lab mean / each reference's mean
OVERHEAD_TARGET_US = 10.0
# A round is SLICES slices; in each, every tool makes the calls of about SLICE_S seconds (at least one).
# Short enough that the machine's speed holds across the three shares of a slice (it drifts over
# seconds); long enough that Timer's blocks fit and the clock reads are a rounding error.
SLICE_S = 0.02
SLICE_S_QUICK = 0.01
SLICES = 40
SLICES_QUICK = 3
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
                        help=f"smoke test: {SLICE_S_QUICK:g} s slices, {SLICES_QUICK} per round, 2 rounds "
                             "(numbers not meaningful)")
    parser.add_argument("--max-wait", type=float, default=None, metavar="S",
                        help="before each round, wait up to S seconds for other processes to go quiet "
                             "(default 5; 0 with --quick; 0 also stops retrying busy rounds)")
    parser.add_argument("--max-case-s", type=float, default=60.0, metavar="S",
                        help="start no new round of a case after S seconds (default 60; a slow model "
                             "gets fewer rounds)")
    parser.add_argument("--slices", type=int,
                        help=f"interleaved slices per round, each tool ~{SLICE_S:g} s of calls per slice "
                             f"(default {SLICES}; {SLICES_QUICK} with --quick)")
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
    if args.slices is None:
        args.slices = SLICES_QUICK if args.quick else SLICES
    if args.max_wait is None:
        args.max_wait = 0.0 if args.quick else 5.0
    for flag, value in (("--threads", args.threads), ("--rounds", args.rounds), ("--slices", args.slices)):
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
    torch_timing(Timer("record()", globals={"record": probe("Timer")}, num_threads=threads), 1, 1)
    block_timing(probe("block"), 1, 1, threads)
    for tool, got in seen.items():
        if got != (True, threads):
            raise RuntimeError(f"{tool} ran with (inference_mode, threads)={got}, expected (True, {threads})")
    return {tool: list(got) for tool, got in seen.items()}


def lab_timing(fn, policy: TimingPolicy, threads: int):
    # Exactly what lab.runner does: set threads around time_calls, per-call samples.
    with hardware.torch_threads(threads):
        return time_calls(fn, policy)


def torch_timing(timer: Timer, number: int, blocks: int) -> list[float]:
    """Timer's own measurement: ``blocks`` blocks of ``number`` calls, seconds per block.
    (``Timer.timeit`` sets the timer's thread count around each block, as ``blocked_autorange`` does.)"""
    return [timer.timeit(number).raw_times[0] for _ in range(blocks)]


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


def slice_policy(calls: int) -> TimingPolicy:
    """The lab's timer taking exactly ``calls`` samples, with no warm-up: the case is warmed once
    before its rounds, and the slices follow one another."""
    return TimingPolicy(warmup_runs=0, warmup_s=0.0, warmup_max_s=0.0, min_runs=calls, max_runs=calls,
                        min_time_s=0.0, max_time_s=0.0)


def block_calls(mean_ms: float, block_s: float) -> int:
    """N such that N calls of ``mean_ms`` last at least ``block_s``."""
    return max(1, math.ceil(block_s * 1e3 / max(mean_ms, 1e-6)))


ORDERS = (("lab", "torch", "block"), ("torch", "block", "lab"), ("block", "lab", "torch"))


def measure_round(forward, timer, number, calls, args, first_order: int) -> dict:
    """One round: ``args.slices`` slices, in each the three tools in a rotating order, each
    making ``calls`` calls (Timer in blocks of ``number``, which divides ``calls``).
    Returns each tool's total ms and calls, and the lab's raw samples (for its p50)."""
    policy = slice_policy(calls)
    lab_ms, timer_s, block_ms = [], [], []
    for k in range(args.slices):
        for tool in ORDERS[(first_order + k) % len(ORDERS)]:
            if tool == "lab":
                lab_ms.extend(lab_timing(forward, policy, args.threads).samples_ms)
            elif tool == "torch":
                timer_s.extend(torch_timing(timer, number, calls // number))
            else:
                block_ms.extend(block_timing(forward, calls, 1, args.threads))
    return {"lab_total_ms": sum(lab_ms), "lab_samples": len(lab_ms),
            "torch_total_ms": sum(timer_s) * 1e3, "torch_calls": number * len(timer_s),
            "torch_block_ms": [t * 1e3 / number for t in timer_s],
            "block_total_ms": sum(block_ms) * calls, "block_calls": calls * len(block_ms),
            "lab_samples_ms": lab_ms}


def measure_case(model, x, args) -> dict:
    # A model may take a tuple of tensors (e.g. input_ids, attention_mask): unpack it, as lab.runner does.
    many = isinstance(x, (tuple, list))
    stmt = "model(*x)" if many else "model(x)"

    def forward():  # as lab.runner's forward: one closure call per sample (the block loop calls it too)
        return model(*x) if many else model(x)

    slice_s = SLICE_S_QUICK if args.quick else SLICE_S
    # num_threads explicitly: Timer's default is 1 thread, whatever torch is set to.
    timer = Timer(stmt, globals={"model": model, "x": x}, num_threads=args.threads)
    # Untimed, before any round: the first call (allocations, oneDNN primitives), Timer's own choice
    # of its block size (which warms it up too), and the calls per slice: about slice_s at the mean
    # Timer saw, rounded to whole Timer blocks. Every tool makes the same count in every slice: a
    # window of fixed TIME gives a slow spell fewer calls than a fast one (its mean is a harmonic
    # mean of the spells), a fixed COUNT spends longer in a slow spell, so tools that stop
    # differently read a drifting machine differently although neither clock is wrong.
    with hardware.torch_threads(args.threads):
        forward()
    calibration = timer.blocked_autorange(min_run_time=slice_s)
    number = calibration.number_per_run
    calls = number * max(1, round(block_calls(calibration.mean * 1e3, slice_s) / number))
    rounds, case_start = [], time.perf_counter()
    # Keep going until `rounds` rounds were quiet, trying at most twice that many
    # and starting none after --max-case-s; busy rounds stay in the JSON but
    # count only when too few rounds were quiet.
    attempts = args.rounds if args.max_wait == 0 else 2 * args.rounds
    while (len(rounds) < attempts and sum(r["quiet"] for r in rounds) < args.rounds
           and not (rounds and time.perf_counter() - case_start > args.max_case_s)):
        wait_for_quiet(args.max_wait)
        with METER.window() as window:  # the whole round under one contention window
            r = measure_round(forward, timer, number, calls, args, first_order=len(rounds))
        load = window.other_cores  # None where it can't be read: never counted as quiet
        r.update(foreign_cores=load, quiet=load is not None and load < QUIET_CORES,
                 lab_mean_ms=r["lab_total_ms"] / r["lab_samples"],
                 torch_mean_ms=r["torch_total_ms"] / r["torch_calls"],
                 block_mean_ms=r["block_total_ms"] / r["block_calls"])
        rounds.append(r)
    used = [r for r in rounds if r["quiet"]] or rounds

    def pooled(tool, count):  # one tool's total time over its total calls, across the rounds used
        return sum(r[f"{tool}_total_ms"] for r in used) / sum(r[count] for r in used)

    lab = summarize([ms for r in used for ms in r["lab_samples_ms"]])
    lab_mean, torch_mean, block_mean = pooled("lab", "lab_samples"), pooled("torch", "torch_calls"), \
        pooled("block", "block_calls")
    torch_median = statistics.median(ms for r in used for ms in r["torch_block_ms"])
    for r in rounds:  # raw samples stay out of the JSON (thousands per round); their summary stays
        samples = r.pop("lab_samples_ms")
        r["lab_p50_ms"] = summarize(samples).p50
    return {"lab_mean_ms": lab_mean, "torch_mean_ms": torch_mean, "block_mean_ms": block_mean,
            "mean_ratio_torch": lab_mean / torch_mean, "mean_ratio_block": lab_mean / block_mean,
            "round_ratios_torch": [r["lab_mean_ms"] / r["torch_mean_ms"] for r in used],
            "round_ratios_block": [r["lab_mean_ms"] / r["block_mean_ms"] for r in used],
            "lab_p50_ms": lab.p50, "skew": lab_mean / lab.p50,
            # Last week's comparison, kept: lab p50 / Timer's median of block means.
            "torch_median_ms": torch_median, "ratio": lab.p50 / torch_median,
            "slice_s": slice_s, "slices": args.slices, "block_calls": calls, "torch_block_size": number,
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
        ref.append(Timer("pass", num_threads=args.threads).blocked_autorange(min_run_time=min_run_time).median * 1e9)
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


def run_cases(args) -> list[dict]:
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
                    case.update(measure_case(model, spec.make_input(batch), args))
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
    slice_s = SLICE_S_QUICK if quick else SLICE_S
    print(f"each round: slices of ~{slice_s:g} s per tool, the three tools taking turns (rotating order) in "
          "every slice, each making the same number of calls\nlab/Timer, lab/block: each tool's total time / total calls over the rounds used "
          "(the quiet ones, if any)\nblock: perf_counter around N back-to-back calls (N: a block >= one slice); "
          "Timer: Timer.timeit(number) blocks\n"
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
    # The harness overhead (an empty call) is priced with the lab's own policy, as lab.runner runs it.
    policy = TimingPolicy.quick() if args.quick else TimingPolicy()
    min_run_time = policy.min_time_s
    with torch.inference_mode():
        threads_seen = check_context(args.threads)
        cases = run_cases(args)
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
