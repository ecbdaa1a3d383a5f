"""Does the cluster path distort the numbers, and what does it add? The same digits-cnn grid measured
on this machine directly and through a one-node Ray cluster on this machine, side by side.

    .venv/bin/python benchmarks/cluster.py [--rounds 5] [--budget quick|default] [--json PATH]

The script starts the one-node cluster itself (``ray start --head --node-ip-address=127.0.0.2``,
a private temp dir; loopback only) and stops it at the end. Both paths go through lab.Bench, each
into its own fresh store; each configuration is measured on the three sides back to back (local,
cluster, local again; the order rotates round by round), and the grid is measured ``--rounds`` times
(each a fresh measurement, nothing served from the store). A ratio is the median over the rounds of
the paired ratios (a slow spell of this shared machine hits the three sides of a round alike, and
cancels in their ratio); the p50 columns are each side's median over the rounds. Threads are set
explicitly and equal on both.

A control beside it: the same configuration measured a second time locally, in the same rounds
(local again / local). Its spread is what this machine's noise alone gives two measurements of
one thing; a cluster ratio outside 0.95-1.05 while the control is outside it too says noise,
not distortion.

Per configuration it prints the latency ratio cluster / local (p50; target 0.95-1.05: the
cluster path must not change what is measured) and the wall time the cluster path added: the
row's ``seconds`` on this side minus ``node_seconds``, the task's own wall time on the node
(target < 100 ms). The first cluster configuration also pays the Ray worker's start (imports,
the model's build, the ceilings): it is printed, and left out of the added-time figure's target
as a one-time cost. Rows flagged ``contended`` (other processes held the cores) are marked.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lab  # noqa: E402
from lab import hardware  # noqa: E402
from lab.cluster import session  # noqa: E402
from lab.cluster.local import LocalCluster  # noqa: E402

GRID = dict(model="digits-cnn", quant=["fp32", "bf16"], batch_size=[1, 8, 32, 64])
NODE = "bench"
TARGET_RATIO = (0.95, 1.05)
TARGET_ADDED_S = 0.100


def run(budget: str, rounds: int) -> list[dict]:
    threads = hardware.cpu_count()
    local_configs = lab.grid(**GRID, threads=threads)
    with tempfile.TemporaryDirectory() as tmp, LocalCluster([(NODE, "127.0.0.2")], num_cpus=1) as cluster:
        started = time.perf_counter()
        joined = session.connect(cluster.address)
        local = lab.Bench(Path(tmp) / "local.sqlite", budget=budget)
        remote = lab.Bench(Path(tmp) / "cluster.sqlite", budget=budget, cluster=joined)
        control = lab.Bench(Path(tmp) / "control.sqlite", budget=budget)
        remote.environment(f"{NODE}/cpu")  # the node's description: once, before the grid
        print(f"cluster up and joined in {time.perf_counter() - started:.1f} s at {cluster.address}", file=sys.stderr)
        local.environment("cpu")
        out = [{"config": f"{c.quant} batch {c.batch_size}", "here": [], "there": [], "again": []}
               for c in local_configs]
        for round_ in range(rounds):
            for pair, config in zip(out, local_configs):
                there = lab.Config(**{**config.to_dict(), "device": f"{NODE}/cpu"})
                sides = [("here", local, config), ("there", remote, there), ("again", control, config)]
                # The order rotates round by round: a side always measured first (or right after a
                # model change) would carry that position's bias into the ratio.
                for side, bench, which in sides[round_ % 3:] + sides[:round_ % 3]:
                    pair[side].append(bench.measure(which))
            print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
        return out


def _median(values):
    values = [v for v in values if v is not None and v == v]  # None: not measured; NaN: failed
    return statistics.median(values) if values else None


def _number(value) -> float:
    """``value``, NaN for None (a column a failed configuration has no value for)."""
    return float("nan") if value is None else value


def _span(values, fmt: str = ".3f") -> str:
    """'lowest .. highest', or 'none' when no configuration gave one."""
    return f"{min(values):{fmt}} .. {max(values):{fmt}}" if values else "none"


def _ratio(row: dict, reference: dict) -> float | None:
    a, b = row.get("latency_ms_p50"), reference.get("latency_ms_p50")
    return a / b if a and b and a == a and b == b else None


def table(pairs: list[dict]) -> list[dict]:
    rows = []
    for i, pair in enumerate(pairs):
        here, there = pair["here"], pair["there"]
        error = next((r["error"] for r in here + there + pair["again"] if r.get("error")), None)
        local_ms = _median([r.get("latency_ms_p50") for r in here])
        cluster_ms = _median([r.get("latency_ms_p50") for r in there])
        # Each ratio is the median of the rounds' paired ratios: the three sides of a round ran back to
        # back, so a slow spell of this machine hits all three and cancels in their ratio. A round where
        # any side was contended (other processes held the cores) is left out, as the lab leaves out
        # such rows: it measured the neighbours, not the path (all rounds, if none is clean).
        rounds = list(zip(here, there, pair["again"]))
        clean = [r for r in rounds if not any(side.get("contended") for side in r)] or rounds
        paired = _median([_ratio(b, a) for a, b, _ in clean])
        paired_control = _median([_ratio(c, a) for a, _, c in clean])
        # The very first cluster row pays the Ray worker's start: its added time is one-time.
        # A row that failed before the node measured it has no node_seconds: NaN, left out of the median.
        added = [(r["seconds"] - _number(r.get("node_seconds"))) * 1e3 for r in there]
        rows.append({"configuration": pair["config"], "local_ms": local_ms, "cluster_ms": cluster_ms,
                     "ratio": paired if not error else None,
                     "control_ratio": paired_control,
                     "added_ms": _median(added[1:] if i == 0 and len(added) > 1 else added),
                     "first_added_ms": added[0] if i == 0 else None,
                     "contended": sum(bool(r.get("contended")) for r in here + there + pair["again"]),
                     "rows": len(here) + len(there) + len(pair["again"]), "error": error,
                     "rounds": len(rounds), "clean_rounds": len(clean) if clean is not rounds else 0})
    return rows


def report(rows: list[dict]) -> bool:
    print(f"{'configuration':<18} {'local p50 ms':>12} {'cluster p50 ms':>14} {'ratio':>7} {'control':>7} "
          f"{'added ms':>9}  notes "
          "(p50s: medians over the rounds; ratios: median of the rounds' paired ratios)")
    ok = True
    for r in rows:
        notes = []
        if r["error"]:
            notes.append(f"error: {r['error']}")
        if r["contended"]:
            notes.append(f"{r['contended']} of {r['rows']} rows contended: ratios from the "
                         f"{r['clean_rounds']} of {r['rounds']} rounds with none")
        if r["first_added_ms"] is not None:
            notes.append(f"the first cluster row added {r['first_added_ms']:.0f} ms (once; a Ray worker start, if any)")
        ratio_ok = r["ratio"] is not None and TARGET_RATIO[0] <= r["ratio"] <= TARGET_RATIO[1]
        added_ok = r["added_ms"] is not None and r["added_ms"] < TARGET_ADDED_S * 1e3
        ok &= ratio_ok and added_ok
        print(f"{r['configuration']:<18} {_number(r['local_ms']):>12.4g} {_number(r['cluster_ms']):>14.4g} "
              f"{_number(r['ratio']):>7.3f} {_number(r['control_ratio']):>7.3f} {_number(r['added_ms']):>9.1f}  "
              f"{'ok' if ratio_ok and added_ok else 'MISSED'}{'; ' if notes else ''}{'; '.join(notes)}")
    rest = [r["added_ms"] for r in rows if r["added_ms"] is not None]
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    controls = [r["control_ratio"] for r in rows if r["control_ratio"] is not None]
    added = f"median {statistics.median(rest):.1f} ms, worst {max(rest):.1f} ms" if rest else "none measured"
    print(f"\nlatency ratio cluster/local: {_span(ratios)} (target {TARGET_RATIO[0]}-{TARGET_RATIO[1]}); "
          f"control local/local: {_span(controls)}; added wall time per configuration: {added} "
          f"(target < {TARGET_ADDED_S * 1e3:.0f} ms)")
    print("all targets met" if ok else "some targets missed (see MISSED)")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="times the grid is measured on each side (median)")
    parser.add_argument("--budget", choices=("quick", "default"), default="quick",
                        help="timing budget of each row (default quick: many short rounds beat few long ones "
                             "on a shared machine)")
    parser.add_argument("--json", default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    print(f"digits-cnn, {args.budget} budget, {args.rounds} rounds, {hardware.cpu_count()} threads on both sides",
          file=sys.stderr)
    rows = table(run(args.budget, args.rounds))
    ok = report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
