"""GPU check: the lab end to end on one CUDA device, in one bounded run.

What it checks, section by section (each runs on its own: one that fails prints
its error line and the next goes on):

  1 environment  lab.hardware.describe() (GPU name, compute capability, memory,
                 power limit, clocks: read only, the lab never changes clocks or
                 power limits) and lab.measure.energy.explain(device).
  2 timing       the lab's p50 (time_calls with cuda_event_timer, exactly as
                 lab.runner times a CUDA row) against torch.utils.benchmark's
                 Timer(...).blocked_autorange() median (Timer synchronises CUDA
                 itself) on the same model object and input, interleaved round by
                 round in one process, for digits-mlp, mnist1d-cnn and minilm
                 (when it builds) at batch 1 and 256. Target: lab/Timer 0.95-1.05.
  3 energy       measure_energy on a GPU matmul loop at windows of 0.1, 0.5, 1
                 and 2 s, 3 repeats each: joules per call, its spread across the
                 repeats and the calls per window (the counter's ~10 ms resolution
                 shows as spread in the short windows); and the idle power over 1 s.
                 Target: spread <= 5 % for windows of at least the source's
                 minimum (100 counter updates).
  4 memory       the lab's peak_mib on CUDA against torch.cuda.max_memory_allocated
                 read directly around one forward, at two batch sizes.
                 Target: ratio 0.95-1.05.
  5 ceilings     lab.roofline.measure_ceilings(device, fp32 bf16 fp16 int8 fp8):
                 GFLOP/s per precision and copy GB/s (figures, no target).
  6 schemes      lab.measure(Config(model="digits-mlp", quant=q, batch_size=256))
                 for every scheme in lab.transforms.quantize.SCHEMES, and
                 digits-cnn dense vs prune_method="2:4" under fp16 and bf16
                 (prune.accelerate's semi-structured kernels): p50, speed-up vs
                 fp32, accuracy, error. Target: a row errors exactly where
                 quantize.supported() / the 2:4 device check says it can't run
                 (an unsupported scheme is a row with an error, never a crash).

A summary table at the end lists every ratio with pass/fail against its target.
Exit code: 0 when every section ran (targets missed are results, not failures);
1 when a section raised; 2 when there is no CUDA device (one line on stderr).

On a GPU (about 2-3 minutes on an H100; --quick about 1):

    python benchmarks/gpu_check.py --out gpu-check/

Without a GPU, prove the wiring on the CPU with tiny sizes (CUDA-only parts say
"skipped: needs CUDA"):

    python benchmarks/gpu_check.py --device cpu --dry-run [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

import lab  # noqa: E402
from lab import hardware, roofline  # noqa: E402
from lab.measure import energy, memory  # noqa: E402
from lab.measure.timing import TimingPolicy, cuda_event_timer, time_calls  # noqa: E402
from lab.models import registry  # noqa: E402
from lab.transforms import prune, quantize  # noqa: E402

RATIO_TARGET = (0.95, 1.05)
ENERGY_SPREAD_TARGET = 0.05
SECTIONS = ("environment", "timing", "energy", "memory", "ceilings", "schemes")
NO_CUDA = ("no CUDA device: this check needs an NVIDIA GPU; run it on one with "
           "`python benchmarks/gpu_check.py --out gpu-check/`, or prove its wiring here with "
           "`--device cpu --dry-run`")


def sizes(args) -> dict:
    """Every size and duration the run uses: full, --quick, or --dry-run (tiny, for a CPU)."""
    if args.dry_run:
        return {"timing_models": ["digits-mlp", "mnist1d-cnn"], "batches": [1, 4], "rounds": 1,
                "policy": TimingPolicy(warmup_runs=2, warmup_s=0.0, min_runs=5, min_time_s=0.01, max_time_s=0.1),
                "timer_s": 0.01, "energy_windows": [0.01, 0.02], "energy_repeats": 2, "idle_s": 0.05,
                "matmul_n": 64, "memory_model": "mnist1d-cnn", "memory_batches": [1, 4],
                "ceilings": {"size": 64, "copy_mib": 1, "min_run_s": 0.01},
                "scheme_batch": 4, "budget": lab.Budget(timing=TimingPolicy(
                    warmup_runs=1, warmup_s=0.0, min_runs=3, min_time_s=0.0, max_time_s=0.05),
                    energy_window_s=0.01, short_energy_window=True)}
    if args.quick:
        return {"timing_models": ["digits-mlp", "mnist1d-cnn", "minilm"], "batches": [1, 256], "rounds": 2,
                "policy": TimingPolicy.quick(), "timer_s": 0.1, "energy_windows": [0.1, 0.5, 1.0],
                "energy_repeats": 2, "idle_s": 0.5, "matmul_n": 4096, "memory_model": "mnist1d-cnn",
                "memory_batches": [256, 4096], "ceilings": {"min_run_s": 0.1}, "scheme_batch": 256,
                "budget": lab.Budget.quick()}
    return {"timing_models": ["digits-mlp", "mnist1d-cnn", "minilm"], "batches": [1, 256], "rounds": 3,
            "policy": TimingPolicy(min_time_s=0.3, max_time_s=2.0), "timer_s": 0.3,
            "energy_windows": [0.1, 0.5, 1.0, 2.0], "energy_repeats": 3, "idle_s": 1.0, "matmul_n": 4096,
            "memory_model": "mnist1d-cnn", "memory_batches": [256, 4096], "ceilings": {"min_run_s": 0.2},
            "scheme_batch": 256, "budget": lab.Budget(timing=TimingPolicy(min_time_s=0.3, max_time_s=2.0),
                                                      energy_window_s=1.0)}


class Tee:
    """stdout, and a copy in --out's log file."""

    def __init__(self, stream, path: Path | None):
        self.stream, self.file = stream, open(path, "w") if path else None

    def write(self, text):
        self.stream.write(text)
        if self.file:
            self.file.write(text)
        return len(text)

    def flush(self):
        self.stream.flush()
        if self.file:
            self.file.flush()


def say(text: str = "") -> None:
    print(text, flush=True)


def one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text[:200]}"


def within(ratio, target=RATIO_TARGET) -> bool:
    return ratio is not None and target[0] <= ratio <= target[1]


def as_args(x, device) -> tuple:
    args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    return tuple(a.to(device) for a in args)


# --- 1 environment ----------------------------------------------------------------------------

def check_environment(args, cfg) -> dict:
    described = hardware.describe()
    for key in ("torch_version", "lab_version", "git_sha", "python_version", "platform"):
        say(f"  {key}: {described[key]}")
    say(f"  torch cuda: {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
    for dev in described["devices"]:
        say("  " + ", ".join(f"{k}={v}" for k, v in dev.items()))
    source_line = energy.explain(args.device)
    say(f"  energy source for {args.device}: {source_line}")
    return {"describe": described, "energy_explain": source_line, "environment": hardware.environment(args.device)}


# --- 2 timing ---------------------------------------------------------------------------------

def timing_case(model, x, cfg, cuda: bool, device) -> dict:
    many = isinstance(x, tuple) and len(x) > 1
    fwd = (lambda: model(*x)) if many else (lambda: model(x[0]))
    stmt = "model(*x)" if many else "model(x[0])"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    time_one = cuda_event_timer(device) if cuda else None
    threads = torch.get_num_threads()
    fwd()
    if sync:
        sync()
    rounds = []
    for r in range(cfg["rounds"]):
        order = ("lab", "timer") if r % 2 == 0 else ("timer", "lab")
        for tool in order:
            if tool == "lab":
                lab_stats = time_calls(fwd, cfg["policy"], sync=sync, time_one=time_one)
            else:
                ref = Timer(stmt, globals={"model": model, "x": x}, num_threads=threads).blocked_autorange(
                    min_run_time=cfg["timer_s"])
        rounds.append({"lab_p50_ms": lab_stats.p50, "lab_samples": lab_stats.n,
                       "timer_median_ms": ref.median * 1e3, "timer_blocks": len(ref.raw_times),
                       "timer_block_size": ref.number_per_run})
    ratios = [r["lab_p50_ms"] / r["timer_median_ms"] for r in rounds]
    return {"lab_p50_ms": statistics.median(r["lab_p50_ms"] for r in rounds),
            "timer_median_ms": statistics.median(r["timer_median_ms"] for r in rounds),
            "ratio": statistics.median(ratios), "round_ratios": ratios, "rounds": rounds,
            "lab_clock": "cuda events" if cuda else "perf_counter (skipped CUDA events: needs CUDA)"}


def check_timing(args, cfg) -> dict:
    cuda = args.device.startswith("cuda")
    device = torch.device(args.device)
    if not cuda:
        say("  CUDA events: skipped: needs CUDA (timing with the CPU clock to prove the wiring)")
    cases = []
    for name in cfg["timing_models"]:
        try:
            model = registry.get(name).build().eval().to(device)
        except Exception as exc:  # noqa: BLE001 — minilm may not be installed: a row, not a stop
            say(f"  {name}: skipped: {one_line(exc)}")
            cases.append({"model": name, "error": one_line(exc)})
            continue
        for batch in cfg["batches"]:
            case = {"model": name, "batch": batch, "error": None}
            if time.perf_counter() > args.deadline:
                case["error"] = "skipped: --max-s time budget spent"
                say(f"  {name:<12} batch {batch:>4}: {case['error']}")
                cases.append(case)
                continue
            try:
                x = as_args(registry.get(name).make_input(batch), device)
                with torch.inference_mode():  # as lab.runner measures a row
                    case.update(timing_case(model, x, cfg, cuda, device))
                say(f"  {name:<12} batch {batch:>4}: lab p50 {case['lab_p50_ms']:.4f} ms, Timer median "
                    f"{case['timer_median_ms']:.4f} ms, ratio {case['ratio']:.3f} "
                    f"({'in' if within(case['ratio']) else 'OUT OF'} target)")
            except Exception as exc:  # noqa: BLE001
                case["error"] = one_line(exc)
                say(f"  {name:<12} batch {batch:>4}: error: {case['error']}")
            cases.append(case)
        del model
    return {"cases": cases, "target": list(RATIO_TARGET)}


# --- 3 energy ---------------------------------------------------------------------------------

def check_energy(args, cfg) -> dict:
    cuda = args.device.startswith("cuda")
    device = torch.device(args.device)
    source = energy.choose_source(args.device)
    say(f"  source: {energy.describe(source)}")
    say(f"  counter update interval {source.update_interval_s * 1e3:.1f} ms, "
        f"minimum honest window {source.min_window_s:.2f} s")
    if not cuda:
        say("  NVML: skipped: needs CUDA (CPU source, tiny windows, to prove the wiring)")
    n = cfg["matmul_n"]
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    work = lambda: torch.mm(a, b)  # noqa: E731
    work()
    result = {"source": source.name, "note": energy.describe(source), "matmul_n": n,
              "update_interval_s": source.update_interval_s, "min_window_s": source.min_window_s, "windows": []}
    try:
        idle = energy.measure_idle_power(source, cfg["idle_s"])
        result["idle_power_w"] = idle
        say(f"  idle power over {cfg['idle_s']} s: {idle:.2f} W")
        for window in cfg["energy_windows"]:
            readings = [energy.measure_energy(work, source, min_window_s=window, sync=sync, quick=True)
                        for _ in range(cfg["energy_repeats"])]
            per_call = [r.joules / r.calls for r in readings]
            mean = statistics.fmean(per_call)
            spread = (max(per_call) - min(per_call)) / mean if mean > 0 else float("nan")
            entry = {"window_s": window, "joules_per_call": per_call, "mean_joules_per_call": mean,
                     "spread": spread, "calls": [r.calls for r in readings], "seconds": [r.seconds for r in readings],
                     "power_w": [r.power_w for r in readings], "short_window": any(r.short_window for r in readings),
                     "honest": window >= source.min_window_s * (1 - 1e-9)}
            result["windows"].append(entry)
            say(f"  window {window:>5.2f} s: {mean * 1e3:10.4f} mJ/call, spread {spread:6.1%}, "
                f"calls {entry['calls']}, power {statistics.fmean(entry['power_w']):.1f} W"
                f"{' (short window)' if entry['short_window'] else ''}")
    finally:
        source.close()
    return result


# --- 4 memory ---------------------------------------------------------------------------------

def check_memory(args, cfg) -> dict:
    cuda = args.device.startswith("cuda")
    device = torch.device(args.device)
    name = cfg["memory_model"]
    spec = registry.get(name)
    model = spec.build().eval().to(device)
    cases = []
    if not cuda:
        say("  torch.cuda.max_memory_allocated: skipped: needs CUDA (the lab's CPU path only)")
    with torch.inference_mode():
        for batch in cfg["memory_batches"]:
            x = as_args(spec.make_input(batch), device)
            fwd = lambda: model(*x)  # noqa: E731
            fwd()
            lab_mib = memory.peak_mib(fwd, args.device)
            case = {"model": name, "batch": batch, "lab_peak_mib": lab_mib, "direct_peak_mib": None, "ratio": None}
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                fwd()
                torch.cuda.synchronize(device)
                direct = (torch.cuda.max_memory_allocated(device) - base) / 2**20
                case["direct_peak_mib"] = direct
                case["ratio"] = lab_mib / direct if direct > 0 else None
                say(f"  {name} batch {batch:>5}: lab {lab_mib:.3f} MiB, direct {direct:.3f} MiB, "
                    f"ratio {case['ratio']:.3f}" if case["ratio"] is not None else
                    f"  {name} batch {batch:>5}: lab {lab_mib:.3f} MiB, direct {direct:.3f} MiB")
            else:
                say(f"  {name} batch {batch:>5}: lab {lab_mib:.3f} MiB (CPU RSS path); direct: skipped: needs CUDA")
            cases.append(case)
    return {"cases": cases, "target": list(RATIO_TARGET)}


# --- 5 ceilings -------------------------------------------------------------------------------

def check_ceilings(args, cfg) -> dict:
    found = roofline.measure_ceilings(args.device, precisions=("fp32", "bf16", "fp16", "int8", "fp8"),
                                      **cfg["ceilings"])
    for precision, gflops in found["peak_gflops"].items():
        say(f"  {precision:<5} {gflops:12.1f} GFLOP/s (n={found['matmul_n'][precision]})")
    for precision, why in found["unsupported"].items():
        say(f"  {precision:<5} unsupported: {why}")
    say(f"  copy  {found['bandwidth_gbs']:12.1f} GB/s ({found['copy_mib']} MiB)")
    # The scheme rows below then use these ceilings instead of measuring them again.
    device = hardware.normalize_device(args.device)
    roofline.ceilings(device, torch.get_num_threads(), env_id=hardware.environment(device)["env_id"],
                      measure=lambda _device: found)
    return found


# --- 6 schemes --------------------------------------------------------------------------------

def expected_error(model: str, quant: str, prune_method: str, device: str) -> str | None:
    reason = quantize.supported(quant, device)
    if reason is None and prune_method != "none":
        method = prune.get(prune_method)
        dev = torch.device(device)
        reason = method.check(dev) if method.check else None
        if reason is None and dev.type not in method.device_types:
            reason = f"prune_method={prune_method} does not run on {dev.type}"
    return reason


def check_schemes(args, cfg) -> dict:
    threads = torch.get_num_threads()
    cases = [("digits-mlp", q, "none") for q in quantize.SCHEMES]
    cases += [("digits-cnn", q, p) for q in ("fp32", "fp16", "bf16") for p in ("none", "2:4") if
              not (q == "fp32" and p == "2:4")]
    rows, reference = [], {}
    say(f"  {'model':<11} {'quant':<21} {'prune':<5} {'p50 ms':>9} {'speed-up':>8} {'accuracy':>8}  error")
    for model, quant, method in cases:
        if time.perf_counter() > args.deadline:
            rows.append({"model": model, "quant": quant, "prune_method": method, "skipped": "time budget spent",
                         "error": None, "as_expected": None, "speedup_vs_fp32": None})
            say(f"  {model:<11} {quant:<21} {method:<5} skipped: --max-s time budget spent")
            continue
        start = time.perf_counter()
        config = lab.Config(model=model, device=args.device, quant=quant, batch_size=cfg["scheme_batch"],
                            threads=threads, prune_method=method, sparsity=0.5 if method == "2:4" else 0.0)
        row = lab.measure(config, budget=cfg["budget"])
        expected = expected_error(model, quant, method, config.device)
        p50 = row.get("latency_ms_p50") if not row["error"] else None
        if quant == "fp32" and method == "none" and p50:
            reference[model] = p50
        speedup = reference[model] / p50 if p50 and model in reference else None
        # 2:4 against the dense model in the same precision: what the sparse kernel itself buys.
        dense = next((r for r in rows if r["model"] == model and r["quant"] == quant and r["prune_method"] == "none"),
                     None)
        vs_dense = dense["latency_ms_p50"] / p50 if method == "2:4" and p50 and dense and dense.get("latency_ms_p50") \
            else None
        record = {"model": model, "quant": quant, "prune_method": method, "batch": cfg["scheme_batch"],
                  "latency_ms_p50": p50, "speedup_vs_fp32": speedup, "speedup_vs_dense": vs_dense,
                  "accuracy": row.get("accuracy"), "energy_mj_per_sample": row.get("energy_mj_per_sample"),
                  "energy_source": row.get("energy_source"), "peak_mem_mib": row.get("peak_mem_mib"),
                  "model_size_mib": row.get("model_size_mib"), "error": row["error"], "expected_error": expected,
                  "as_expected": (row["error"] is None) == (expected is None), "seconds": time.perf_counter() - start}
        rows.append(record)
        acc = f"{record['accuracy']:.4f}" if isinstance(record["accuracy"], float) else "-"
        fmt = (lambda v, spec: format(v, spec) if v is not None else "-")
        say(f"  {model:<11} {quant:<21} {method:<5} {fmt(p50, '9.4f'):>9} "
            f"{fmt(speedup, '7.2f') + ('x' if speedup else ''):>8} "
            f"{acc:>8}  {row['error'] or ''}"
            f"{'' if record['as_expected'] else '  [UNEXPECTED: supported() said ' + repr(expected) + ']'}"
            f"{f'  (2:4 vs dense {vs_dense:.2f}x)' if vs_dense else ''}")
    return {"rows": rows}


# --- driver -----------------------------------------------------------------------------------

def summary(results: dict) -> list[dict]:
    """(check, figure, target, verdict) for every ratio and target. In a dry run (tiny sizes on a
    shared CPU) a ratio's verdict is only 'info': the figures prove the wiring, not the lab."""
    dry = results.get("mode") == "dry run"

    def verdict(ok: bool) -> str:
        return ("pass" if ok else "miss") + " (dry run: info)" if dry else "pass" if ok else "FAIL"

    lines = []
    for name in SECTIONS:
        if "error" in results.get(name, {}) and len(results[name]) <= 2:
            lines.append({"check": name, "figure": "-", "target": "runs", "verdict": "FAIL: " + results[name]["error"]})
    for c in results.get("timing", {}).get("cases", []):
        if c.get("error"):
            lines.append({"check": f"timing {c['model']} b{c.get('batch', '-')}", "figure": "-",
                          "target": "0.95-1.05", "verdict": "skipped: " + c["error"]})
        else:
            lines.append({"check": f"timing {c['model']} b{c['batch']} lab/Timer", "figure": f"{c['ratio']:.3f}",
                          "target": "0.95-1.05", "verdict": verdict(within(c["ratio"]))})
    for w in results.get("energy", {}).get("windows", []):
        lines.append({"check": f"energy window {w['window_s']} s spread", "figure": f"{w['spread']:.1%}",
                      "target": f"<= {ENERGY_SPREAD_TARGET:.0%}" if w["honest"] else "(short: info)",
                      "verdict": verdict(w["spread"] <= ENERGY_SPREAD_TARGET) if w["honest"]
                      else "info"})
    for c in results.get("memory", {}).get("cases", []):
        ratio = c["ratio"]
        lines.append({"check": f"memory {c['model']} b{c['batch']} lab/direct",
                      "figure": f"{ratio:.3f}" if ratio is not None else "-", "target": "0.95-1.05",
                      "verdict": verdict(within(ratio)) if ratio is not None
                      else "skipped: needs CUDA"})
    ceil = results.get("ceilings", {})
    for precision, gflops in ceil.get("peak_gflops", {}).items():
        lines.append({"check": f"ceiling {precision}", "figure": f"{gflops:.0f} GFLOP/s", "target": "-",
                      "verdict": "info"})
    for precision in ceil.get("unsupported", {}):
        lines.append({"check": f"ceiling {precision}", "figure": "unsupported", "target": "-", "verdict": "info"})
    if "bandwidth_gbs" in ceil:
        lines.append({"check": "ceiling copy", "figure": f"{ceil['bandwidth_gbs']:.1f} GB/s", "target": "-",
                      "verdict": "info"})
    for r in results.get("schemes", {}).get("rows", []):
        if r.get("skipped"):
            lines.append({"check": f"scheme {r['model']} {r['quant']} {r['prune_method']}", "figure": "-",
                          "target": "error iff unsupported", "verdict": "skipped: " + r["skipped"]})
            continue
        label = f"{r['model']} {r['quant']}" + (f" {r['prune_method']}" if r["prune_method"] != "none" else "")
        figure = (f"{r['speedup_vs_fp32']:.2f}x vs fp32" if r["speedup_vs_fp32"] else
                  "error" if r["error"] else "-")
        lines.append({"check": f"scheme {label}", "figure": figure, "target": "error iff unsupported",
                      "verdict": "pass" if r["as_expected"] else "FAIL"})
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__[__doc__.index("On a GPU"):],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="torch device to check (default: cuda if available)")
    parser.add_argument("--out", metavar="DIR", help="write gpu_check.json (every figure and the environment) "
                                                      "and gpu_check.log (a copy of stdout) to DIR")
    parser.add_argument("--quick", action="store_true", help="shorter still: fewer rounds, repeats and windows")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny sizes, to prove the script's wiring (with --device cpu on a machine without CUDA)")
    parser.add_argument("--max-s", type=float, metavar="S",
                        help="start no new timing case or scheme row after S seconds (default 210; 120 with "
                             "--quick; 60 with --dry-run): the run stays bounded on a slow or busy device")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all: {','.join(SECTIONS)})")
    args = parser.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    if args.max_s is None:
        args.max_s = 60.0 if args.dry_run else 120.0 if args.quick else 210.0
    if args.max_s <= 0:
        parser.error(f"--max-s={args.max_s} is not allowed: seconds, more than 0")
    for s in args.sections:
        if s not in SECTIONS:
            parser.error(f"--sections={s!r} is not allowed: any of {', '.join(SECTIONS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    has_cuda = torch.cuda.is_available()
    if args.device is None:
        args.device = "cuda" if has_cuda else ("cpu" if args.dry_run else None)
    if args.device is None or (args.device.startswith("cuda") and not has_cuda) or \
            (not has_cuda and not args.dry_run):
        print(NO_CUDA, file=sys.stderr)
        return 2
    if not args.device.startswith("cuda") and not args.dry_run:
        print(f"--device={args.device!r} is not allowed without --dry-run: this check measures a CUDA device "
              f"(e.g. --device cuda:0)", file=sys.stderr)
        return 2
    args.device = hardware.normalize_device(args.device)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    sys.stdout = Tee(sys.__stdout__, out / "gpu_check.log" if out else None)
    if args.dry_run and not args.device.startswith("cuda"):
        torch.set_num_threads(1)  # a shared CPU: wiring only, one core
    cfg = sizes(args)
    mode = "dry run" if args.dry_run else "quick" if args.quick else "full"
    say(f"gpu_check on {args.device} ({mode}), torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    checks = {"environment": check_environment, "timing": check_timing, "energy": check_energy,
              "memory": check_memory, "ceilings": check_ceilings, "schemes": check_schemes}
    results = {"device": args.device, "mode": mode, "max_s": args.max_s, "sizes": cfg, "sections_run": [],
               "section_seconds": {}}
    failed = []
    start = time.perf_counter()
    args.deadline = start + args.max_s

    def save():
        if out:
            results["summary"] = summary(results)
            (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))

    for number, name in enumerate(SECTIONS, 1):
        if name not in args.sections:
            continue
        t0 = time.perf_counter()
        say(f"\n== {number} {name} == (at {t0 - start:.1f} s)")
        try:
            results[name] = checks[name](args, cfg)
        except Exception as exc:  # noqa: BLE001 — one section's failure must not stop the others
            results[name] = {"error": one_line(exc), "traceback": traceback.format_exc()}
            failed.append(name)
            say(f"  section {name} failed: {one_line(exc)}")
        results["sections_run"].append(name)
        results["section_seconds"][name] = time.perf_counter() - t0
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        save()

    lines = summary(results)
    say(f"\n== summary == ({time.perf_counter() - start:.1f} s in all)")
    width = max([len(line["check"]) for line in lines] + [5])
    say(f"{'check':<{width}}  {'figure':>18}  {'target':<20}  verdict")
    for line in lines:
        say(f"{line['check']:<{width}}  {line['figure']:>18}  {line['target']:<20}  {line['verdict']}")
    n_pass = sum(line["verdict"].startswith("pass") for line in lines)
    n_fail = sum(line["verdict"].startswith(("FAIL", "miss")) for line in lines)
    say(f"{n_pass} pass, {n_fail} fail/miss, {len(lines) - n_pass - n_fail} info/skipped; "
        f"sections failed: {', '.join(failed) or 'none'}")
    results["total_seconds"] = time.perf_counter() - start
    save()
    if out:
        say(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.log'}")
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
