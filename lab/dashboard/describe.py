"""What a point is, in words: the hover text, the controls that select it, the card (pure, tested).

    hover_lines(row); hover_text(row); hover_html(row)   # its configuration and numbers
    controls_for(row, values)                            # the control values that select that point
    card_html(df, current)                               # the current selection's energy, CO2e, cost, roofline
"""
from __future__ import annotations

import html

import pandas as pd

from lab.cluster import names as device_names
from lab.config import KNOBS
from lab.dashboard import controls
from lab.dashboard.figure import card_lines, card_note, card_row, tradeoff_batch
from lab.numbers import finite
from lab.plots import ok_rows


def _num(row, name, fmt="{:.3g}") -> str | None:
    value = finite(row.get(name)) if row is not None else None
    return fmt.format(value) if value is not None else None


def hover_lines(row) -> list[str]:
    """A point's configuration (one line) and its numbers (one line each; what the row lacks is left out)."""
    if row is None:
        return []
    config = controls.describe_row(row)
    lines = [config]
    lat = _num(row, "latency_ms_p50")
    if lat is not None:
        band = [_num(row, "latency_ms_p90"), _num(row, "latency_ms_p99")]
        lines.append(f"latency p50 {lat} ms" + (f" (p90–p99 {band[0]}–{band[1]})" if None not in band else ""))
    for name, label, unit, fmt in (("throughput_sps", "throughput", "samples/s", "{:.4g}"),
                                   ("peak_mem_mib", "peak memory", "MiB", "{:.3g}"),
                                   ("energy_mj_per_sample", "energy", "mJ/sample", "{:.3g}"),
                                   ("accuracy", str(row.get("metric") or "accuracy"), "", "{:.4g}"),
                                   ("co2_g_per_1k", "CO2e", "g/1k samples", "{:.3g}"),
                                   ("cost_usd_per_1m", "cost", "USD/1M samples", "{:.3g}"),
                                   ("roofline_frac", "roofline", "of attainable", "{:.0%}")):
        value = _num(row, name, fmt)
        if value is not None:
            source = f" ({row.get('energy_source')})" if name == "energy_mj_per_sample" and \
                isinstance(row.get("energy_source"), str) else ""
            lines.append(f"{label} {value} {unit}{source}".rstrip())
    return lines


def hover_text(row) -> str:
    return "\n".join(hover_lines(row))


def hover_html(row) -> str:
    """The hovered point for the panel's HTML line (the browser test reads it): configuration in bold."""
    lines = hover_lines(row)
    if not lines:
        return "<span style='color:#777'>hover over a point to see its configuration; click it to select it</span>"
    head, *rest = lines
    return f"<b>{html.escape(head)}</b><br>" + " · ".join(html.escape(line) for line in rest)


def controls_for(row, values: dict) -> dict:
    """The control values that select ``row``'s configuration: its knobs, and its batch size added to the
    batch sizes shown (the curves keep their other points)."""
    out = {}
    for name in controls.CONTROLS:
        if name == "batch_sizes":
            continue
        value = row.get(name) if hasattr(row, "get") else None
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        kind = KNOBS[name].kind
        if kind is bool:
            value = value is True or str(value).lower() == "true"
        elif kind is int:
            value = int(value)
        elif kind is float:
            value = float(value)
        else:
            value = str(value)
        out[name] = value
    if out.get("prune_method", values.get("prune_method")) == "none":
        out.pop("sparsity", None)  # the slider keeps its resting value; sparsity means nothing unpruned
        out.pop("finetune_epochs", None)
    if out.get("device", values.get("device")) != "cpu":
        out.pop("threads", None)
    sizes = set(controls.batch_sizes(values.get("batch_sizes") or (1,)))
    batch = finite(row.get("batch_size"))
    if batch is not None and int(batch) in controls.BATCH_CHOICES:
        sizes.add(int(batch))
    out["batch_sizes"] = tuple(sorted(sizes))
    return out


# --- the card ---------------------------------------------------------------------------------------
def card_html(df, current) -> str:
    """The current selection's energy (and its source), CO2e, cost and roofline fraction as HTML: large
    numbers beside their units, where the carbon intensity and price came from under them."""
    ok = ok_rows(df if df is not None else pd.DataFrame())
    at = tradeoff_batch(ok, current)
    row = card_row(ok, current, at)
    lines = card_lines(row)
    head, *numbers = lines
    cells = "".join(f"<tr><td class='lab-card-number' style='text-align:right;font-size:20px;font-weight:600;"
                    f"padding:1px 8px 1px 0'>{html.escape(n)}</td>"
                    f"<td style='font-size:13px;color:#333'>{html.escape(u)}</td></tr>" for n, u in numbers)
    note = html.escape(card_note(row)).replace("\n", "<br>")
    return (f"<div style='font-size:14px;font-weight:600;margin-bottom:2px'>{html.escape(head[1])}</div>"
            f"<table style='border-collapse:collapse'>{cells}</table>"
            + (f"<div style='font-size:12px;color:#555;margin-top:4px;line-height:1.3'>{note}</div>" if note else ""))


LEGEND_PX = 13  # the legend's text, CSS px (the browser test wants >= 10)


def legend_html(items, hidden: int = 0, pareto: bool = False) -> str:
    """The live view's legend as HTML, two columns under the canvas: each series as a line and dot
    in its colour, then what the star (the current selection) and the dashed line (the Pareto
    front) mean. ``items``: (label, CSS colour) of the series listed; ``hidden``: older ones not."""
    if not items:
        return ""
    def entry(mark: str, text: str) -> str:
        return f"<span class='lab-legend-entry'>{mark}&nbsp;{html.escape(text)}</span>"

    entries = [entry(f"<span style='color:{colour}'>&#8212;&#9679;&#8212;</span>", label) for label, colour in items]
    if hidden:
        entries.insert(0, entry("<span style='color:#888'>&#8943;</span>", f"+{hidden} older series (hover a point)"))
    entries.append(entry("<span style='font-size:16px'>&#9733;</span>", "current"))
    if pareto:
        entries.append(entry("<span style='color:#404040'>- - -</span>", "Pareto front"))
    return (f"<div class='lab-legend' style='display:grid;grid-template-columns:repeat(2,max-content);"
            f"column-gap:22px;row-gap:1px;font-size:{LEGEND_PX}px;line-height:1.45;margin:2px 0 0 96px'>"
            + "".join(entries) + "</div>")


CEILINGS_S = 2.5  # about how long a device's ceilings take to measure on a laptop CPU (lab.roofline)


def slow_steps(config, bench) -> list[str]:
    """What measuring ``config`` will do besides the measurement itself that takes seconds, with how
    long, so the status line says it instead of looking stuck: a thread count's ceilings (once per
    machine), recovery fine-tuning, a first compile. A cluster node's device (``<node>/<device>``) gets no
    ceilings step: whether the node has its ceilings is in the node's store, which this machine can't read
    (and asking ``bench.environment`` for a node's device would go to the cluster)."""
    from lab import roofline

    steps = []
    if not device_names.is_node_device(config.device) and not roofline.known(
            config.device, config.threads, store=bench.store,
            env_id=bench.environment(config.device)["env_id"]):
        steps.append(f"measuring this machine's ceilings at {config.threads} thread(s), once (~{CEILINGS_S:.0f} s)")
    if config.finetune_epochs:
        steps.append(f"fine-tuning {config.finetune_epochs} epoch(s) after pruning")
    if config.compile:
        steps.append("compiling the model (torch.compile: ~20 s the first time)")
    return steps
