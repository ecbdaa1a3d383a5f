"""lab.dashboard.render: the live figure draws the same PNG by every path (rebuilt, restyled, fresh)."""
import pandas as pd

from dashboard_rows import BF16, costed_rows


def test_the_live_figure_draws_the_same_image_by_every_path():
    from lab.dashboard.render import LiveFigure

    rows = []
    for k, quant in enumerate(("fp32", "bf16", "fp16"), start=1):
        for b in (1, 8):
            rows.append({"model": "digits-mlp", "quant": quant, "batch_size": b, "config_id": f"{quant}-{b}",
                         "latency_ms_p50": k * b, "latency_ms_p90": 1.1 * k * b, "latency_ms_p99": 1.2 * k * b,
                         "throughput_sps": 1e3 / k, "peak_mem_mib": b, "energy_mj_per_sample": k,
                         "energy_source": "estimate", "accuracy": 1 - k / 100, "metric": "accuracy", "error": None})
    df = pd.DataFrame(rows)
    live = LiveFigure()
    live.png(df.head(4), ["bf16-1", "bf16-8"], version=1)
    grown = live.png(df, ["fp16-1", "fp16-8"], version=2)             # new rows: rebuilt in place
    back = live.png(df, ["fp32-1", "fp32-8"], version=2)              # same rows: restyled only
    assert live.fast >= 1
    assert grown == LiveFigure().png(df, ["fp16-1", "fp16-8"], version=2)
    assert back == LiveFigure().png(df, ["fp32-1", "fp32-8"], version=2)

def test_the_live_figure_with_roofline_and_card_draws_the_same_image_by_every_path():
    from lab.dashboard.render import LiveFigure

    df = costed_rows()
    live = LiveFigure()
    live.png(df.head(4), ["bf16-1"], version=1)
    grown = live.png(df, BF16, version=2)                       # new rows: rebuilt in place
    back = live.png(df, ["fp32-1", "fp32-8", "fp32-64"], version=2)  # same rows: restyled, card numbers only
    assert live.fast >= 1
    assert grown == LiveFigure().png(df, BF16, version=2)
    assert back == LiveFigure().png(df, ["fp32-1", "fp32-8", "fp32-64"], version=2)
    assert back != grown
