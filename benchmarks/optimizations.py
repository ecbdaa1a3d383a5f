"""What each optimization buys on this machine, against fp32 on the same device and threads.

For every built-in model, every quantization scheme and a few pruning settings
are measured side by side with the fp32 reference in one run. Every case is
bracketed by fp32 runs, just before and just after it; its speed-up is the mean
of the two brackets' p50 over the case's p50 (> 1 is faster), and the brackets'
spread (after / before - 1) is printed beside it, so a machine that changed
speed during the case shows itself. Printed per case: speed-up at batch 1 and
64, size ratio (fp32 weights / case weights), accuracy delta in points. A case
that failed (an unsupported pairing, an error) prints NOT MEASURED with its
reason; a target whose case failed or whose value is missing (no accuracy, no
fine-tuning time) prints NOT MEASURED, never MET.

Targets (from the issue, for a 2-core x86 CPU):
  int8-dynamic      >= 2x faster than fp32 at batch 64 on digits-mlp
  bf16              >= 2x at batch 64 where the CPU has AMX / AVX512-BF16
  structured 50 %   >= 1.5x at batch 64 on digits-cnn, <= 2 points of accuracy lost
                    after <= 30 s of recovery fine-tuning
  int8 weights      about 4x smaller

    python benchmarks/optimizations.py [--models digits-mlp,digits-cnn] [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lab  # noqa: E402
from lab import hardware  # noqa: E402
from lab.models import registry  # noqa: E402
from lab.transforms import quantize  # noqa: E402

BATCHES = (1, 64)
PRUNING = (  # (method, sparsity, fine-tuning epochs)
    ("unstructured", 0.5, 0),
    ("structured", 0.5, 0),
    ("structured", 0.5, 2),
)


def cases(model: str):
    """(label, knobs) for every case compared with fp32 on ``model``."""
    for scheme in quantize.SCHEMES:
        if scheme != "fp32":
            yield scheme, {"quant": scheme}
    for method, sparsity, epochs in PRUNING:
        label = f"{method} {sparsity:.0%}" + (f" +{epochs}ep" if epochs else "")
        yield label, {"prune_method": method, "sparsity": sparsity, "finetune_epochs": epochs}


def measure(model, batch, budget, threads, **knobs):
    return lab.measure(lab.Config(model=model, batch_size=batch, threads=threads, **knobs), budget=budget)


def _safe(measure_fn, *args, **knobs) -> dict:
    """A row, never an exception: a measure that raises becomes a row whose ``error`` says why."""
    try:
        return measure_fn(*args, **knobs)
    except Exception as exc:  # noqa: BLE001 — reported as NOT MEASURED, the other cases go on
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def _value(row: dict, key: str):
    """row[key] as a finite float, or None when missing, NaN or the row failed."""
    value = None if row.get("error") else row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _ratio(num, den):
    return None if num is None or den is None or den == 0 else num / den


def compare(model: str, budget, threads: int, log, measure_fn=None) -> dict:
    """Every case of ``model`` bracketed by fp32 reference runs, measured just before and just after it
    (the 'after' of one case is the 'before' of the next: n cases, n + 1 reference runs per batch).
    A case's reference is the mean of its two brackets; their spread (after / before - 1) is how
    far the machine drifted while the case ran. A case or bracket that failed is NOT MEASURED."""
    measure_fn = measure if measure_fn is None else measure_fn

    def reference_run() -> dict:
        return {b: _safe(measure_fn, model, b, budget, threads) for b in BATCHES}

    before = first = reference_run()
    results = []
    for label, knobs in cases(model):
        log(f"  {model}: {label}")
        rows = {b: _safe(measure_fn, model, b, budget, threads, **knobs) for b in BATCHES}
        after = reference_run()
        entry = {"case": label, **knobs, "error": None}
        errors = [f"{r['error']}" for r in rows.values() if r.get("error")]
        errors += [f"fp32 reference: {r['error']}" for bracket in (before, after) for r in bracket.values()
                   if r.get("error")]
        if errors:
            entry["error"] = errors[0]
        else:
            for b in BATCHES:
                lo, hi = _value(before[b], "latency_ms_p50"), _value(after[b], "latency_ms_p50")
                ref = None if lo is None or hi is None else (lo + hi) / 2
                entry[f"fp32_p50_ms_b{b}"] = ref
                entry[f"fp32_bracket_ms_b{b}"] = [lo, hi]
                spread = _ratio(hi, lo)
                entry[f"bracket_spread_b{b}"] = None if spread is None else spread - 1
                entry[f"speedup_b{b}"] = _ratio(ref, _value(rows[b], "latency_ms_p50"))
                entry[f"noisy_b{b}"] = bool(rows[b].get("noisy") or before[b].get("noisy") or after[b].get("noisy"))
            entry["size_ratio"] = _ratio(_value(before[64], "model_size_mib"), _value(rows[64], "model_size_mib"))
            acc = _value(rows[64], "accuracy")
            ref_acc = _value(before[64], "accuracy")
            ref_acc = _value(after[64], "accuracy") if ref_acc is None else ref_acc
            entry["accuracy_delta_pts"] = None if acc is None or ref_acc is None else 100 * (acc - ref_acc)
            entry["finetune_s"] = _value(rows[64], "finetune_s")
        results.append(entry)
        before = after
    drift = {b: _ratio(_value(before[b], "latency_ms_p50"), _value(first[b], "latency_ms_p50")) for b in BATCHES}
    return {"model": model, "threads": threads,
            "fp32_p50_ms": {b: _value(first[b], "latency_ms_p50") for b in BATCHES},
            "fp32_accuracy": _value(first[64], "accuracy"), "reference_drift": drift, "cases": results}


def fmt(value, spec=".2f", missing="-"):
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


NOT_MEASURED = "NOT MEASURED"


def print_model(result: dict, out=None):
    out = sys.stdout if out is None else out
    p50, drift = result["fp32_p50_ms"], result["reference_drift"]
    print(f"\n{result['model']}  (first fp32 p50: {fmt(p50[1], '.3f')} ms at batch 1, {fmt(p50[64], '.3f')} ms "
          f"at batch 64; accuracy {fmt(result['fp32_accuracy'], '.4f')}; reference drift first to last "
          f"{fmt(drift[1])}x / {fmt(drift[64])}x)", file=out)
    print(f"  {'case':<24}{'speedup b1':>11}{'speedup b64':>12}{'size ratio':>11}{'acc delta':>10}{'finetune':>10}"
          f"  fp32 brackets b1 / b64 (spread)", file=out)
    for c in result["cases"]:
        if c["error"]:
            print(f"  {c['case']:<24}{NOT_MEASURED}: {c['error']}", file=out)
            continue
        brackets = " / ".join(
            f"{fmt(c[f'fp32_bracket_ms_b{b}'][0], '.3f')}-{fmt(c[f'fp32_bracket_ms_b{b}'][1], '.3f')} ms "
            f"({fmt(None if c[f'bracket_spread_b{b}'] is None else 100 * c[f'bracket_spread_b{b}'], '+.1f')} %)"
            for b in BATCHES)
        print(f"  {c['case']:<24}{fmt(c['speedup_b1']):>10}x{fmt(c['speedup_b64']):>11}x{fmt(c['size_ratio']):>10}x"
              f"{fmt(c.get('accuracy_delta_pts'), '+.2f'):>8}pt{fmt(c.get('finetune_s'), '.1f'):>9}s  {brackets}",
              file=out)
    print("  speed-up: mean of the fp32 p50 just before and just after the case / case p50; "
          "spread: after / before - 1", file=out)


def check_targets(results: dict, skipped: dict | None = None) -> list[str]:
    """One line per target: MET, MISSED, or NOT MEASURED with why. A case that failed, was not
    run, or lacks a value the target needs (accuracy, fine-tuning time, ...) is never MET."""
    skipped = skipped or {}
    lines = []

    def line(name: str, model: str, label: str, target: str, keys: tuple[str, ...], met, shown):
        """``met(*values)`` and ``shown(*values)`` run only once every one of ``keys`` has a value."""
        found = next((c for c in results.get(model, {}).get("cases", []) if c["case"] == label), None)
        if found is None:
            why = f"{model} skipped: {skipped[model]}" if model in skipped else f"case {label!r} on {model} not run"
        elif found["error"]:
            why = found["error"]
        else:
            values = [found.get(k) for k in keys]
            missing = [k for k, v in zip(keys, values) if v is None]
            if not missing:
                lines.append(f"{'MET   ' if met(*values) else 'MISSED'} {name}: {shown(*values)} (target {target})")
                return
            why = f"no {' and no '.join(missing)} in the measured rows"
        lines.append(f"{NOT_MEASURED} {name} (target {target}): {why}")

    for scheme in ("int8-dynamic", "bf16"):
        line(f"{scheme} speed-up at batch 64 on digits-mlp", "digits-mlp", scheme, ">= 2x", ("speedup_b64",),
             lambda s: s >= 2, lambda s: f"{fmt(s)}x")
    label = "structured 50% +2ep"
    line("structured 50 % speed-up at batch 64 on digits-cnn", "digits-cnn", label, ">= 1.5x", ("speedup_b64",),
         lambda s: s >= 1.5, lambda s: f"{fmt(s)}x")
    line("accuracy lost after fine-tuning on digits-cnn", "digits-cnn", label, "<= 2 points, fine-tuning <= 30 s",
         ("accuracy_delta_pts", "finetune_s"), lambda d, t: -d <= 2 and t <= 30,
         lambda d, t: f"{fmt(-d)} points in {fmt(t, '.1f')} s")
    for scheme in ("int8-dynamic", "int8-dynamic-torchao", "int8-weight-only", "int8-static"):
        line(f"{scheme} weights smaller on digits-mlp", "digits-mlp", scheme, "about 4x", ("size_ratio",),
             lambda r: 3.0 <= r <= 4.5, lambda r: f"{fmt(r)}x")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma list (default: every built-in model that loads here)")
    parser.add_argument("--threads", type=int, default=hardware.cpu_count())
    parser.add_argument("--quick", action="store_true", help="short timing windows (a smoke run, not for quoting)")
    parser.add_argument("--json", type=Path, default=None, help="write every number to this file")
    args = parser.parse_args(argv)
    budget = lab.Budget.quick() if args.quick else lab.Budget()
    models = args.models.split(",") if args.models else registry.names()
    results, skipped = {}, {}
    for model in models:
        try:
            registry.get(model).build()
        except Exception as exc:  # noqa: BLE001 — e.g. an optional extra not installed
            skipped[model] = str(exc).splitlines()[0]
            print(f"skipping {model}: {skipped[model]}", file=sys.stderr)
            continue
        results[model] = compare(model, budget, args.threads, lambda m: print(m, file=sys.stderr, flush=True))
        print_model(results[model])
    targets = check_targets(results, skipped)
    print("\nTargets:")
    for line in targets:
        print("  " + line)
    if args.json:
        args.json.write_text(json.dumps({"environment": hardware.environment("cpu"), "results": results,
                                         "skipped": skipped, "targets": targets}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
