"""What each optimization buys on this machine, against fp32 on the same device and threads.

For every built-in model, every quantization scheme and a few pruning settings
are measured side by side with the fp32 reference in one run (the reference is
measured first and again last, and the drift between the two is printed, so a
noisy machine shows itself). Printed per case: speed-up at batch 1 and 64
(fp32 p50 / case p50; > 1 is faster), size ratio (fp32 weights / case weights),
and accuracy delta in points. An unsupported pairing prints its reason.

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


def compare(model: str, budget, threads: int, log) -> dict:
    reference = {b: measure(model, b, budget, threads) for b in BATCHES}
    results = []
    for label, knobs in cases(model):
        log(f"  {model}: {label}")
        rows = {b: measure(model, b, budget, threads, **knobs) for b in BATCHES}
        error = next((r["error"] for r in rows.values() if r["error"]), None)
        entry = {"case": label, **knobs, "error": error}
        if not error:
            for b in BATCHES:
                entry[f"speedup_b{b}"] = reference[b]["latency_ms_p50"] / rows[b]["latency_ms_p50"]
                entry[f"noisy_b{b}"] = rows[b]["noisy"]
            entry["size_ratio"] = reference[64]["model_size_mib"] / rows[64]["model_size_mib"]
            if rows[64].get("accuracy") is not None:
                entry["accuracy_delta_pts"] = 100 * (rows[64]["accuracy"] - reference[64]["accuracy"])
            entry["finetune_s"] = rows[64].get("finetune_s")
        results.append(entry)
    again = {b: measure(model, b, budget, threads) for b in BATCHES}
    drift = {b: again[b]["latency_ms_p50"] / reference[b]["latency_ms_p50"] for b in BATCHES}
    return {"model": model, "threads": threads,
            "fp32_p50_ms": {b: reference[b]["latency_ms_p50"] for b in BATCHES},
            "fp32_accuracy": reference[64].get("accuracy"), "reference_drift": drift, "cases": results}


def fmt(value, spec=".2f", missing="-"):
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def print_model(result: dict):
    p50 = result["fp32_p50_ms"]
    print(f"\n{result['model']}  (fp32 p50: {p50[1]:.3f} ms at batch 1, {p50[64]:.3f} ms at batch 64; "
          f"accuracy {fmt(result['fp32_accuracy'], '.4f')}; reference drift over the run "
          f"{result['reference_drift'][1]:.2f}x / {result['reference_drift'][64]:.2f}x)")
    print(f"  {'case':<24}{'speedup b1':>11}{'speedup b64':>12}{'size ratio':>11}{'acc delta':>10}{'finetune':>10}")
    for c in result["cases"]:
        if c["error"]:
            print(f"  {c['case']:<24}{c['error']}")
            continue
        print(f"  {c['case']:<24}{fmt(c['speedup_b1']):>10}x{fmt(c['speedup_b64']):>11}x{fmt(c['size_ratio']):>10}x"
              f"{fmt(c.get('accuracy_delta_pts'), '+.2f'):>8}pt{fmt(c.get('finetune_s'), '.1f'):>9}s")


def check_targets(results: dict) -> list[str]:
    """One line per target: measured value, target, met or missed."""
    lines = []

    def case(model, label):
        return next((c for c in results.get(model, {}).get("cases", []) if c["case"] == label), None)

    def line(name, value, target, met, unit="x"):
        lines.append(f"{'MET   ' if met else 'MISSED'} {name}: {fmt(value)}{unit} (target {target})")

    mlp_int8 = case("digits-mlp", "int8-dynamic")
    if mlp_int8 and not mlp_int8["error"]:
        line("int8-dynamic speed-up at batch 64 on digits-mlp", mlp_int8["speedup_b64"], ">= 2x",
             mlp_int8["speedup_b64"] >= 2)
    mlp_bf16 = case("digits-mlp", "bf16")
    if mlp_bf16 and not mlp_bf16["error"]:
        line("bf16 speed-up at batch 64 on digits-mlp", mlp_bf16["speedup_b64"], ">= 2x", mlp_bf16["speedup_b64"] >= 2)
    cnn = case("digits-cnn", "structured 50% +2ep")
    if cnn and not cnn["error"]:
        line("structured 50 % speed-up at batch 64 on digits-cnn", cnn["speedup_b64"], ">= 1.5x",
             cnn["speedup_b64"] >= 1.5)
        lost = -(cnn.get("accuracy_delta_pts") or 0.0)
        line("accuracy lost after fine-tuning", lost, "<= 2 points, fine-tuning <= 30 s",
             lost <= 2 and (cnn.get("finetune_s") or 0) <= 30, unit=f" points in {fmt(cnn.get('finetune_s'), '.1f')} s")
    for scheme in ("int8-dynamic", "int8-dynamic-torchao", "int8-weight-only", "int8-static"):
        c = case("digits-mlp", scheme)
        if c and not c["error"]:
            line(f"{scheme} weights smaller on digits-mlp", c["size_ratio"], "about 4x", 3.0 <= c["size_ratio"] <= 4.5)
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
    targets = check_targets(results)
    print("\nTargets:")
    for line in targets:
        print("  " + line)
    if args.json:
        args.json.write_text(json.dumps({"environment": hardware.environment("cpu"), "results": results,
                                         "skipped": skipped, "targets": targets}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
