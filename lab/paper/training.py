"""The paper's training figures, from rows of kind "training" (lab.train):

    eta-tta-SIZE           energy to accuracy (J) against time to accuracy (s): one point per configuration
                           (median over seeds and repeats), error bars min-max, the Pareto front of the
                           medians dashed (lab.pareto); configurations that never reached the target named
    accuracy-energy-curves-SIZE  held-out accuracy against energy since training began (J): every run's
                           curve, coloured by configuration, the target dashed

Both with a sidecar (lab.paper.provenance) naming the rows drawn and the ones left out (failed, or no run
reached the target). ``python -m lab figures`` calls ``write_figures`` when its store or study holds
training rows. Labels come from lab.columns.TRAINING_LABELS (units included) and name the energy source.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lab.columns import TRAINING_LABELS
from lab.pareto import pareto_front
from lab.paper import checks, layout, left_out, provenance as prov
from lab.paper.style import grid_figsize, palette, paper_style, save_kwargs
from lab.train.summary import GROUP_KNOBS, spread, varying

KIND = "training"
NAMES = ("eta-tta", "accuracy-energy-curves")
NOTES = {"eta-tta": "points: median over seeds and repeats of the runs that reached the target; error bars: "
                    "min-max; dashed: Pareto front of the medians",
         "accuracy-energy-curves": "one line per run (each seed and repeat); dashed: the target accuracy"}


def split(df: pd.DataFrame, store=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, every other row) of ``df``; with ``store`` (a path) its training rows are added."""
    kind = df["kind"] if "kind" in df else pd.Series("inference", index=df.index)
    trained, rest = df[kind == KIND], df[kind != KIND]
    if store is not None:
        from lab.store import Store

        stored = Store(store, create=False).dataframe(kind=KIND)
        trained = pd.concat([trained, stored], ignore_index=True) if len(trained) else stored
    return trained.reset_index(drop=True), rest.reset_index(drop=True)


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v) and k == "error")}
            for r in df.to_dict("records")]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["error"].isna()] if "error" in df else df


def _group_label(line: dict, keys: list[str]) -> str:
    return " · ".join(f"{k}={line[k]:g}" if isinstance(line[k], float) else f"{k}={line[k]}" for k in keys) or \
        str(line.get("model"))


def _source(df: pd.DataFrame) -> str:
    sources = [str(s) for s in dict.fromkeys(df["energy_source"].dropna())] if "energy_source" in df else []
    return " / ".join(sources) or "source unknown"


def _groups(df: pd.DataFrame):
    """Spread lines per configuration (without its seed), their labels and colours."""
    rows = _records(_ok(df))
    lines = spread(rows)
    keys = varying(lines)
    colours = palette()
    for i, line in enumerate(lines):
        line["label"] = _group_label(line, keys)
        line["colour"] = colours[i % len(colours)]
    return rows, lines


def eta_tta(df: pd.DataFrame, ax) -> tuple[pd.DataFrame, list[dict]]:
    """Draw ETA against TTA on ``ax``; (rows drawn, left out [{config, reason}])."""
    rows, lines = _groups(df)
    drawn, left_out, handles = [], [], []
    for line in lines:
        members = line["rows"]
        if math.isnan(line["tta_s_median"]):
            left_out.append({"config": line["label"], "reason": f"no run reached the target ({line['reached']})"})
            continue
        x, y = line["tta_s_median"], line["eta_j_median"]
        ax.errorbar([x], [y], xerr=[[x - line["tta_s_min"]], [line["tta_s_max"] - x]],
                    yerr=[[y - line["eta_j_min"]], [line["eta_j_max"] - y]], fmt="o", color=line["colour"],
                    markersize=4, capsize=2, linewidth=0.8)
        runs = line["reached"].split("/")
        suffix = "" if runs[0] == runs[1] else f" ({line['reached']} reached)"
        handles.append(Line2D([], [], marker="o", linestyle="", color=line["colour"], label=line["label"] + suffix))
        drawn += [r for r in members if r.get("reached")]
    points = pd.DataFrame([{"tta_s": ln["tta_s_median"], "eta_j": ln["eta_j_median"]} for ln in lines
                           if not math.isnan(ln["tta_s_median"])])
    if len(points) > 1:
        front = pareto_front(points, {"tta_s": "min", "eta_j": "min"}).sort_values("tta_s")
        # Rings on the front's points: a front of one configuration is a ring, not an invisible line.
        ring = {"marker": "o", "markerfacecolor": "none", "markersize": 8, "color": "0.3", "linewidth": 0.8}
        ax.plot(front["tta_s"], front["eta_j"], linestyle="--", zorder=0, **ring)
        handles.append(Line2D([], [], linestyle="--", label="Pareto front", **ring))
    ax.set_xlabel(TRAINING_LABELS["tta_s"])
    ax.set_ylabel(f"{TRAINING_LABELS['eta_j'][:-1]}, {_source(df)})")
    targets = sorted({r["target_accuracy"] for r in rows})
    ax.set_title(f"target accuracy {', '.join(f'{t:g}' for t in targets)}", loc="right", fontsize="x-small",
                 color="0.35")
    layout.axes_legend(ax, handles)
    return pd.DataFrame(drawn), left_out


def accuracy_energy(df: pd.DataFrame, ax) -> tuple[pd.DataFrame, list[dict]]:
    """Draw every run's accuracy against energy on ``ax``; (rows drawn, left out)."""
    rows, lines = _groups(df)
    drawn, left_out, handles = [], [], []
    for line in lines:
        members = line["rows"]
        with_curve = [r for r in members if isinstance(r.get("curve"), list) and r["curve"]]
        for r in members:
            if r not in with_curve:
                left_out.append({"config": line["label"], "reason": f"seed {r.get('seed')}: no curve points"})
        for r in with_curve:
            energy = [0.0] + [p["energy_j"] for p in r["curve"]]
            accuracy = [np.nan] + [p["accuracy"] for p in r["curve"]]  # no evaluation before training
            ax.plot(energy, accuracy, color=line["colour"], linewidth=0.8, marker=".", markersize=2.5, alpha=0.85)
            drawn.append(r)
        if with_curve:
            handles.append(Line2D([], [], color=line["colour"], linewidth=0.8, label=line["label"]))
    for target in sorted({r["target_accuracy"] for r in rows}):
        ax.axhline(target, linestyle="--", color="0.3", linewidth=0.8, zorder=0)
    if rows:
        handles.append(Line2D([], [], linestyle="--", color="0.3", linewidth=0.8, label="target accuracy"))
    ax.set_xlabel(f"{TRAINING_LABELS['energy_j'][:-1]}, {_source(df)})")
    ax.set_ylabel(TRAINING_LABELS["accuracy"])
    layout.axes_legend(ax, handles)
    return pd.DataFrame(drawn), left_out


DRAW = {"eta-tta": eta_tta, "accuracy-energy-curves": accuracy_energy}
COLUMNS = {"eta-tta": ["tta_s", "eta_j", "energy_source", *GROUP_KNOBS, "seed"],
           "accuracy-energy-curves": ["curve", "energy_source", *GROUP_KNOBS, "seed"]}


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def failed_rows(df: pd.DataFrame) -> list[dict]:
    """lab.paper.left_out.failed's entries for training rows: one per configuration (its config_id: every
    knob and the seed) with a failed row, described by its model, the knobs that vary among ``df``'s rows
    and its seed (e.g. 'digits-cnn · label_noise=0.3 · seed 0'), with its failed and measured repeats."""
    if "error" not in df:
        return []
    keys = [k for k in varying(df.to_dict("records")) if k != "model"]

    def words(row) -> str:
        knobs = [f"{k}={_text(row.get(k))}" for k in keys]
        return " · ".join([_text(row.get("model")), *knobs, f"seed {_text(row.get('seed'))}"])

    return left_out.failed(df, describe=words, order_by=("model", *keys, "seed"))


def write_figures(df: pd.DataFrame, out_dir, *, provenance: dict, sizes=("single", "double"),
                  formats=("pdf", "svg", "png")) -> list[dict]:
    """Write both training figures for each size and format, with sidecars; entries as lab.paper.write's
    (``kind``, ``figure``, ``size``, ``files``, ``sidecar``, ``problems``, ``skipped``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source, failed, entries = prov.complete(provenance), failed_rows(df), []
    if _ok(df).empty:
        return [{"kind": "figure", "figure": name, "skipped": "no training rows without an error"} for name in NAMES]
    with paper_style():
        for name in NAMES:
            for size in sizes:
                fig = Figure(figsize=grid_figsize(size, 1, 1))
                drawn, left_out = DRAW[name](df, fig.subplots())
                layout.freeze(fig)
                stem, files = f"{name}-{size}", []
                for fmt in formats:
                    fig.savefig(out / f"{stem}.{fmt}", **save_kwargs(fmt))
                    files.append(f"{stem}.{fmt}")
                ids = sorted(int(i) for i in drawn["id"].dropna()) if "id" in drawn else []
                problems = checks.problems(fig)
                card = prov.sidecar(name, size, files, ids, source, COLUMNS[name], NOTES[name], failed=failed,
                                    omitted=left_out, problems=problems)
                prov.write_json(out / f"{stem}.json", card)
                entries.append({"kind": "figure", "figure": name, "size": size, "files": [str(out / f) for f in files],
                                "sidecar": str(out / f"{stem}.json"), "problems": problems, "skipped": None})
    return entries
