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


