"""Rows the dashboard's figure, render and files tests share: six rows carrying energy, carbon, cost
and roofline columns (``costed_rows``), and the bf16 selection among them (``BF16``)."""
import pandas as pd

ASSUMPTION = "10 W per busy core: default for a CPU not in the table (Fake CPU); set LAB_WATTS_PER_CORE to override"


def costed_rows():
    """Six rows (fp32, bf16 x batch 1, 8, 64) carrying energy, carbon, cost and roofline columns."""
    rows = []
    for k, quant in enumerate(("fp32", "bf16"), start=1):
        for b in (1, 8, 64):
            rows.append({"model": "digits-mlp", "quant": quant, "batch_size": b, "config_id": f"{quant}-{b}",
                         "latency_ms_p50": k * b, "latency_ms_p90": 1.1 * k * b, "latency_ms_p99": 1.2 * k * b,
                         "throughput_sps": 1e3 / k, "peak_mem_mib": b, "energy_mj_per_sample": 2.5 * k,
                         "energy_source": "estimate", "energy_assumption": ASSUMPTION,
                         "co2_g_per_1k": 0.123 * k, "carbon_g_per_kwh": 380.0,
                         "carbon_region": "DE (Ember, 2023 annual average)", "cost_usd_per_1m": 4.56 * k,
                         "price_usd_per_hour": 0.089, "price_instance": "aws-c7i.large (list price, January 2025)",
                         "achieved_gflops": 0.5 * b / k, "peak_gflops": 100.0 * k, "bandwidth_gbs": 20.0,
                         "arithmetic_intensity": 0.25 * b, "roofline_frac": 0.1 * b / k / 8,
                         "bound": "memory" if b < 64 else "compute", "accuracy": 1 - k / 100,
                         "metric": "accuracy", "error": None})
    return pd.DataFrame(rows)


BF16 = ["bf16-1", "bf16-8", "bf16-64"]
