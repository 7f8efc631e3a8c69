"""Sweeps of DVC experiments (rows x seeds) and their table: the machinery of the ablation and method sweeps.

A sweep has a name prefix and rows; `queue` adds one `dvc exp run --queue` per (row, seed), named
`<prefix>-<row>-s<seed>`, the row's parameters set with `-S` on top of params.yaml (`train.seed` is the
seed); `collect` reads `dvc exp show --json` back; `table` prints, per row, the mean ± standard
deviation over seeds of the average target mAP / Rank-1 (and each target's mAP), the mean 95 %
bootstrap half-width of a single run, and the paper's figure for that row. A difference between rows
smaller than the spread over seeds or the interval is not a result.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Row:
    name: str  # experiment names are git refs: letters, digits, '_'
    overrides: tuple[str, ...]  # `dvc exp run -S` values
    paper: str  # what the paper reports for this ablation (MA→MS, MS→MA mAP; SPEC §6, Tables 5-8)


def queue(prefix: str, rows: list[Row], seeds: list[int], dry_run: bool) -> None:
    """Seed-major order: a sweep stopped part-way still has every row at the first seeds."""
    for seed in seeds:
        for row in rows:
            cmd = ["dvc", "exp", "run", "--queue", "-n", f"{prefix}-{row.name}-s{seed}", "-S", f"train.seed={seed}"]
            for override in row.overrides:
                cmd += ["-S", override]
            print(" ".join(cmd))
            if not dry_run:
                subprocess.run(cmd, check=True)


def _experiments(node: object, name_re: re.Pattern) -> dict[str, dict]:
    """{experiment name: metrics/evaluation.json} from `dvc exp show --json` (any nesting)."""
    found: dict[str, dict] = {}
    if isinstance(node, list):
        for item in node:
            found.update(_experiments(item, name_re))
    elif isinstance(node, dict):
        data = node.get("data")
        name = node.get("name")
        # a running experiment shows the workspace's metrics, a failed one its baseline's
        finished = isinstance(data, dict) and data.get("rev") != "workspace" and not node.get("error")
        if finished and name and name_re.match(str(name)):
            metrics = (data.get("metrics") or {}).get("metrics/evaluation.json", {}).get("data")
            if metrics:
                found[str(name)] = metrics
        for value in node.values():
            if isinstance(value, list | dict):
                found.update(_experiments(value, name_re))
    return found


def collect(prefix: str) -> dict[str, dict[int, dict]]:
    """{row: {seed: metrics}} of the finished experiments of sweep `prefix`."""
    name_re = re.compile(rf"^{re.escape(prefix)}-(?P<row>.+)-s(?P<seed>\d+)$")
    shown = json.loads(subprocess.run(["dvc", "exp", "show", "--json", "-A"], check=True, capture_output=True,
                                      text=True).stdout)
    by_row: dict[str, dict[int, dict]] = defaultdict(dict)
    for name, metrics in _experiments(shown, name_re).items():
        match = name_re.match(name)
        by_row[match["row"]][int(match["seed"])] = metrics
    return by_row


def _half_width(metrics: dict, key: str) -> float:
    ci = metrics.get(f"{key}_ci95")
    return (ci["high"] - ci["low"]) / 2 if ci else float("nan")


def table(rows: tuple[Row, ...], by_row: dict[str, dict[int, dict]], label: str = "ablation",
          paper: str = "paper (MA→MS / MS→MA mAP)") -> str:
    """Markdown table: mean ± std over seeds, the mean interval half-width of one run, the paper's direction."""
    lines = [f"| {label} | seeds | avg mAP | ± 95 % CI of a run | avg Rank-1 | per-target mAP | {paper} |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = by_row.get(row.name)
        if not runs:
            lines.append(f"| {row.name} | 0 | not run | | | | {row.paper} |")
            continue
        avg = [m["average"] for m in runs.values()]
        mAP, rank1 = np.array([a["mAP"] for a in avg]), np.array([a["rank1"] for a in avg])
        spread = lambda v: f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"  # noqa: E731
        targets = sorted(k for k in next(iter(runs.values())) if isinstance(runs[next(iter(runs))][k], dict)
                         and k != "average")
        per_target = ", ".join(f"{t} {np.mean([m[t]['mAP'] for m in runs.values()]):.1f}" for t in targets)
        half = np.nanmean([_half_width(a, "mAP") for a in avg])
        lines.append(f"| {row.name} | {len(runs)} | {spread(mAP)} | ± {half:.1f} | {spread(rank1)} | {per_target} | "
                     f"{row.paper} |")
    return "\n".join(lines)


def main(prefix: str, rows: tuple[Row, ...], doc: str, label: str = "ablation",
         paper: str = "paper (MA→MS / MS→MA mAP)") -> None:
    """The sweep's command line: `queue` or `table`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue", help="queue the sweep as DVC experiments")
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--rows", nargs="+", choices=[r.name for r in rows], default=[r.name for r in rows])
    q.add_argument("--dry-run", action="store_true", help="print the commands only")
    sub.add_parser("table", help="print the table of the finished experiments")
    args = parser.parse_args()
    if args.command == "queue":
        queue(prefix, [r for r in rows if r.name in args.rows], args.seeds, args.dry_run)
    else:
        print(table(rows, collect(prefix), label, paper))
