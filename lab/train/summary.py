"""The spread of training rows across seeds and repeats: one line per configuration-without-its-seed.

A training result without its spread is not worth a figure: the same knobs with another seed reach the
target in another number of epochs. ``spread(rows)`` groups rows by every knob except ``seed`` and
gives, for time- and energy-to-accuracy and epochs to the target, the median, min, max and the
interquartile range (numpy's percentiles, linear interpolation) over the runs that reached the target,
and ``reached`` as "k/n":
a run that never reached it has no TTA, so it is counted, not averaged in. Best accuracy is summarised
over every run. Failed rows (``error``) are left out and counted in ``failed``; contended ones in
``contended`` (their numbers are kept: flagged, never passed off as clean). Each line keeps its group's
rows under ``rows``, so a caller that draws or lists the runs of a line need not group them again.
"""
from __future__ import annotations

import math

import numpy as np

from lab.train.config import KNOBS

GROUP_KNOBS = tuple(k for k in KNOBS if k not in ("seed",))
STATS = ("tta_s", "eta_j", "epochs_to_target", "best_accuracy")


def _stats(values: list[float]) -> dict:
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "q1": math.nan, "q3": math.nan}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "min": float(min(values)), "max": float(max(values)),
            "q1": float(q1), "q3": float(q3)}


def spread(rows: list[dict], by: tuple[str, ...] = GROUP_KNOBS) -> list[dict]:
    """One dict per group of ``rows`` with equal ``by`` knobs, in first-seen order: the knobs, ``runs``,
    ``reached`` ('k/n'), ``seeds``, ``failed``, ``contended``, ``rows`` (the group's rows, failed ones
    included, in input order), and STAT_median / _min / _max / _q1 / _q3 for each of tta_s (s), eta_j (J),
    epochs_to_target (epochs; reached runs only) and best_accuracy (0-1; every run)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in by), []).append(row)
    out = []
    for key, members in groups.items():
        ok = [r for r in members if not r.get("error")]
        reached = [r for r in ok if r.get("reached")]
        line = dict(zip(by, key))
        line.update(runs=len(ok), reached=f"{len(reached)}/{len(ok)}",
                    seeds=",".join(str(s) for s in sorted({r.get("seed") for r in ok})),
                    failed=len(members) - len(ok), contended=sum(bool(r.get("contended")) for r in ok),
                    rows=members)
        for stat in STATS:
            source = ok if stat == "best_accuracy" else reached
            values = [float(r[stat]) for r in source if r.get(stat) is not None and not math.isnan(r[stat])]
            line.update({f"{stat}_{name}": value for name, value in _stats(values).items()})
        out.append(line)
    return out


def varying(rows: list[dict], knobs=GROUP_KNOBS) -> list[str]:
    """The knobs whose value differs between ``rows`` (the columns worth showing)."""
    return [k for k in knobs if len({repr(r.get(k)) for r in rows}) > 1]


def format_range(line: dict, stat: str, digits: int = 3) -> str:
    """'12.3 [10.1–14.0]': the median and the min–max of ``stat`` in a spread line; 'n/a' when empty."""
    median = line[f"{stat}_median"]
    if math.isnan(median):
        return "n/a"
    fmt = f"{{:.{digits}g}}"
    return f"{fmt.format(median)} [{fmt.format(line[f'{stat}_min'])}–{fmt.format(line[f'{stat}_max'])}]"
