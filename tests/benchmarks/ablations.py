"""The demo's ablation sweep (paper Tables 5, 6, 8 and "w/o calibration"), queued as DVC experiments.

    python tests/benchmarks/ablations.py queue [--seeds 0 1 2] [--rows full global_only ...]
    dvc queue start -j 1                      # runs them one at a time (dvc queue status / logs)
    python tests/benchmarks/ablations.py table [--markdown]

`queue` adds one `dvc exp run --queue` per (row, seed), named `abl-<row>-s<seed>`, each row's
parameters set with `-S` on top of params.yaml (`train.seed` is the seed). Only the stages a
row changes re-run: the pre-trained prior is restored from DVC's run cache. `table` reads
`dvc exp show --json` and prints, per row, the mean ± standard deviation over seeds of the
average target mAP / Rank-1 (and each target's mAP), the mean 95 % bootstrap half-width of a
single run, and the paper's direction for that ablation. A difference between rows smaller
than the spread over seeds or the interval is not a result.
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


ROWS = (
    Row("full", (), "MUVA, G+H+U+L: 27.6 / 59.5"),
    Row("global_only", ("model.parts=[]",), "lower: 26.0 / 51.9 (Table 5, G)"),
    Row("parts_h", ("model.parts=[head]",), "G+H: lower than full (Table 5)"),
    Row("parts_u", ("model.parts=[upper]",), "G+U: lower than full (Table 5)"),
    Row("parts_l", ("model.parts=[legs]",), "G+L: lower: 27.3 / 56.7, best single part (Table 5)"),
    Row("parts_hu", ("model.parts=[head,upper]",), "G+H+U: lower than full (Table 5)"),
    Row("parts_hl", ("model.parts=[head,legs]",), "G+H+L: lower than full (Table 5)"),
    Row("parts_ul", ("model.parts=[upper,legs]",), "G+U+L: lower than full, up to 57.1 on MS→MA (Table 5)"),
    Row("stripes", ("model.part_attention=stripes",), "lower: 25.8 / 55.5 (Table 8)"),
    Row("no_calibration", ("calibration.enabled=false",), "lower: 27.3 / 57.7"),
    Row("stripe_masks", ("masks.mode=stripes",), "lower (equal-thirds pseudo-labels)"),
    Row("vision_only", ("train.vision_only=true",), "lower: 26.7 / 56.8 (Table 6)"),
    Row("no_pretraining", ("model.pretrained=null",), "not in the paper (always CLIP); expected far lower"),
)
NAME = re.compile(r"^abl-(?P<row>.+)-s(?P<seed>\d+)$")


def queue(rows: list[Row], seeds: list[int], dry_run: bool) -> None:
    """Seed-major order: a sweep stopped part-way still has every row at the first seeds."""
    for seed in seeds:
        for row in rows:
            cmd = ["dvc", "exp", "run", "--queue", "-n", f"abl-{row.name}-s{seed}", "-S", f"train.seed={seed}"]
            for override in row.overrides:
                cmd += ["-S", override]
            print(" ".join(cmd))
            if not dry_run:
                subprocess.run(cmd, check=True)


def _experiments(node: object) -> dict[str, dict]:
    """{experiment name: metrics/evaluation.json} from `dvc exp show --json` (any nesting)."""
    found: dict[str, dict] = {}
    if isinstance(node, list):
        for item in node:
            found.update(_experiments(item))
    elif isinstance(node, dict):
        data = node.get("data")
        name = node.get("name")
        # a running experiment shows the workspace's metrics, a failed one its baseline's
        finished = isinstance(data, dict) and data.get("rev") != "workspace" and not node.get("error")
        if finished and name and NAME.match(str(name)):
            metrics = (data.get("metrics") or {}).get("metrics/evaluation.json", {}).get("data")
            if metrics:
                found[str(name)] = metrics
        for value in node.values():
            if isinstance(value, list | dict):
                found.update(_experiments(value))
    return found


def collect() -> dict[str, dict[int, dict]]:
    """{row: {seed: metrics}} of the finished ablation experiments."""
    shown = json.loads(subprocess.run(["dvc", "exp", "show", "--json", "-A"], check=True, capture_output=True,
                                      text=True).stdout)
    by_row: dict[str, dict[int, dict]] = defaultdict(dict)
    for name, metrics in _experiments(shown).items():
        match = NAME.match(name)
        by_row[match["row"]][int(match["seed"])] = metrics
    return by_row


def _half_width(metrics: dict, key: str) -> float:
    ci = metrics.get(f"{key}_ci95")
    return (ci["high"] - ci["low"]) / 2 if ci else float("nan")


def table(by_row: dict[str, dict[int, dict]]) -> str:
    """Markdown table: mean ± std over seeds, the mean interval half-width of one run, the paper's direction."""
    lines = ["| ablation | seeds | avg mAP | ± 95 % CI of a run | avg Rank-1 | per-target mAP | paper (MA→MS / MS→MA mAP) |",
             "|---|---|---|---|---|---|---|"]
    for row in ROWS:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue", help="queue the sweep as DVC experiments")
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--rows", nargs="+", choices=[r.name for r in ROWS], default=[r.name for r in ROWS])
    q.add_argument("--dry-run", action="store_true", help="print the commands only")
    sub.add_parser("table", help="print the table of the finished experiments")
    args = parser.parse_args()
    if args.command == "queue":
        queue([r for r in ROWS if r.name in args.rows], args.seeds, args.dry_run)
    else:
        print(table(collect()))


if __name__ == "__main__":
    main()
