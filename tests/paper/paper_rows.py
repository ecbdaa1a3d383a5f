"""Synthetic result rows for the paper tests: 3 schemes x 4 batch sizes x 3 repeats, plus a failed row.

(A module of its own, not conftest: several test folders have a conftest.py.)
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SCHEMES = ("fp32", "bf16", "int8_dynamic")
BATCHES = (1, 4, 16, 64)
REPEATS = 3


def make_rows(schemes=SCHEMES, batches=BATCHES, repeats=REPEATS, roofline=False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows, next_id = [], 1
    for k, quant in enumerate(schemes, start=1):
        for b in batches:
            for r in range(repeats):
                lat = 0.2 * b / k * (1 + 0.05 * r) + 0.01 * rng.random()
                row = dict(id=next_id, model="digits-mlp", quant=quant, prune_method="none", sparsity=0.0,
                           batch_size=b, threads=2, device="cpu", config_id=f"{quant}-b{b}", seed=0,
                           latency_ms_p50=lat, latency_ms_p90=1.1 * lat, latency_ms_p99=1.3 * lat,
                           throughput_sps=b / lat * 1e3, peak_mem_mib=0.5 * b + k, model_size_mib=1.0 / k,
                           energy_mj_per_sample=2.0 / (k * b) * (1 + 0.1 * r), energy_source="estimate",
                           accuracy=0.97 - 0.01 * k + 0.001 * r, metric="accuracy", error=None)
                if roofline:
                    row.update(arithmetic_intensity=0.5 * b, achieved_gflops=1.0 * b / k, peak_gflops=200.0,
                               bandwidth_gbs=20.0, roofline_frac=0.1 * k, co2_g_per_1k=0.3 / k,
                               cost_usd_per_1m=0.02 * k)
                rows.append(row)
                next_id += 1
    failed = dict(id=next_id, model="digits-mlp", quant="fp8", batch_size=1, config_id="fp8-b1",
                  error="unsupported: fp8 needs CUDA")
    return pd.DataFrame(rows + [failed])


def make_sensitivity() -> dict:
    frames = {}
    for model in ("digits-mlp",):
        rows = [dict(layer=layer, sparsity=s, accuracy=0.95 - s * (0.1 + 0.2 * i), params=100 * (i + 1))
                for i, layer in enumerate(("fc1", "fc2", "head")) for s in (0.0, 0.25, 0.5, 0.75, 0.9)]
        frames[model] = pd.DataFrame(rows)
    return frames




def make_many_rows() -> pd.DataFrame:
    """12 series: 2 models x 2 prunings x 3 schemes (more than a plot can tell apart), roofline columns too."""
    parts = []
    for m, model in enumerate(("digits-mlp", "digits-cnn")):
        for p, (method, sparsity) in enumerate((("none", 0.0), ("unstructured", 0.5))):
            part = make_rows(roofline=True).assign(model=model, prune_method=method, sparsity=sparsity)
            part["config_id"] = part["config_id"] + f"-{model}-{method}"
            part["id"] = part["id"] + 1000 * (2 * m + p)
            part["accuracy"] = part["accuracy"] - 0.03 * p - 0.01 * m
            part["latency_ms_p50"] = part["latency_ms_p50"] * (1 - 0.3 * p) * (1 + m)
            part["throughput_sps"] = part["throughput_sps"] / ((1 - 0.3 * p) * (1 + m))
            part["energy_mj_per_sample"] = part["energy_mj_per_sample"] * (1 - 0.2 * p) * (1 + 0.5 * m)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def make_budget_rows() -> pd.DataFrame:
    """make_rows (budget 'default') plus quick-budget repeats of every fp32 configuration, three times
    slower (the noise a quick budget brings), and one bf16 configuration measured only with 'quick'."""
    rows = make_rows().assign(budget="default")
    quick = rows[(rows["quant"] == "fp32") & rows["error"].isna()].assign(
        budget="quick", id=lambda d: d["id"] + 500, latency_ms_p50=lambda d: d["latency_ms_p50"] * 3)
    only_quick = rows[(rows["quant"] == "bf16") & (rows["batch_size"] == 64)].index
    rows.loc[only_quick, "budget"] = "quick"
    return pd.concat([rows, quick], ignore_index=True)
