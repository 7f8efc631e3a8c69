"""The check to run on a GPU worker before a long run (README "On a GPU worker"): one command, at most
8 minutes on one GPU, no download; one JSON and a table.

    python -m tests.benchmarks.gpu_check [--out FILE] [--only abcdefg] [--total 480] [--dry-run]

Parts (run in the order a, b, e, f, g, d, c; each in its own process under its own time limit, a part
that overruns is killed and reported "timeout"; what is left of --total caps each limit):
  a  the CUDA-marked tests: pytest -m cuda
  b  ViT-B-16 stage-1 and stage-2 training steps at batch 64 under bf16 autocast through the training
     engine's own loop (`fit` with `PromptTask` / `ImageTask`), and inference: ms per batch and peak
     GPU memory against the paper's Table 13 (random init: OpenAI's weights cannot be fetched there)
  c  the demo pipeline end to end on CUDA (every dvc.yaml stage in a copy without outputs), each
     target's mAP inside the committed CPU run's 95 % bootstrap interval (metrics/evaluation.json)
  d  torchrun with NCCL: the real stage-1 + stage-2 on a tiny set, 2 ranks on the one GPU, or world
     size 1 where NCCL refuses that (the JSON says which), weights identical on every rank
  e  evaluation and k-reciprocal re-ranking at Market-1501 scale (3,368 x 15,913, random features) on
     CUDA against the CPU: distances within 1e-5, metrics equal
  f  reid.load_model(...).embed on CUDA against the CPU: float32 within 1e-5, the shipped bf16 path
     within 2e-2
  g  one short run of each peer's CUDA path (CLIP-ReID, CLIP-FGDI, MUSE SFT + mu + fusion, LVLM-ReID):
     it runs and its losses are finite
Without CUDA every part is reported skipped, with its reason; --dry-run lists the parts, their
commands and budgets, and runs nothing (on any machine). The JSON (default: gpu_check.json in the
temporary folder; not a DVC output) holds the environment, each part's status, checks and figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOTAL_S = 480  # the whole check: 8 minutes
CORE = ("torch", "open_clip", "polars", "pydantic", "yaml", "dvclive", "PIL", "numpy")


@dataclass(frozen=True)
class Part:
    key: str
    title: str
    budget_s: int
    command: str  # what it runs, for --dry-run and the JSON
    needs: tuple[str, ...] = CORE


PARTS = (  # in run order: the pipeline last, it takes what the others leave
    Part("a", "CUDA-marked tests", 60, "python -m pytest -m cuda <the files using pytest.mark.cuda>", CORE + ("pytest",)),
    Part("b", "ViT-B-16 training steps vs Table 13", 75,
         "fit() with PromptTask / ImageTask, batch 64, bf16 autocast; encode_batch for inference"),
    Part("e", "evaluation + re-ranking, CUDA = CPU", 60,
         "evaluate_distances + KReciprocal on cuda and cpu, 3,368 x 15,913 random features"),
    Part("f", "embed, CUDA = CPU", 30, "reid.load_model(ckpt, 'cuda' | 'cpu').embed(16 images), demo and ViT-B-16"),
    Part("g", "peer methods on CUDA", 60,
         "run_peer_stage1/2 (clip_reid, clip_fgdi), run_sft + pair_mu + KReciprocal(override) (muse), "
         "semantic + run_lvlm_stage1/2 (lvlm_reid), tiny set", CORE + ("transformers", "peft")),
    Part("d", "torchrun with NCCL", 75,
         "python -m torch.distributed.run --standalone --nproc_per_node 2 (then 1) -m tests.benchmarks.gpu_check "
         "--rank-main ...: run_stage1 + run_stage2"),
    Part("c", "demo pipeline on CUDA vs committed metrics", 240,
         "python -m stages.<each dvc.yaml stage> in a copy without outputs; metrics/evaluation.json vs the committed"),
)


def missing_modules(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def environment() -> dict[str, Any]:
    """What the figures depend on: interpreter, torch and its CUDA, the GPU, NCCL, missing packages."""
    import torch
    import torch.distributed as dist

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                           "cpus": os.cpu_count(), "host": platform.node(),
                           "missing": missing_modules(tuple(sorted({n for p in PARTS for n in p.needs})))}
    if env["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_count=torch.cuda.device_count(), gpu_memory_gb=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported(),
                   nccl=dist.is_nccl_available())
    return env


def skip_reason(part: Part, env: dict[str, Any]) -> str | None:
    """Why `part` cannot run here, or None."""
    if not env["cuda_available"]:
        return f"CUDA is not available here (torch {env['torch']}, built for CUDA {env['torch_cuda']})"
    missing = [n for n in part.needs if n in env["missing"]]
    if missing:
        return f"needs {', '.join(missing)}, not installed (README: On a GPU worker)"
    if part.key == "d" and not env.get("nccl"):
        return "torch.distributed has no NCCL backend in this build"
    if part.key == "c" and not (REPO / "metrics/evaluation.json").is_file():
        return "no committed metrics/evaluation.json to compare with"
    return None


def worker_argv(part: Part, result_path: Path, timeout: float) -> list[str]:
    return [sys.executable, "-m", "tests.benchmarks.gpu_check", "--worker", part.key, "--result", str(result_path),
            "--timeout", f"{timeout:.0f}"]


def run_part(argv: list[str], result_path: Path, timeout: float) -> dict[str, Any]:
    """Run one part's process (its own session, so its children die with it); its record, or why there is none."""
    from tests.benchmarks.gpu_check_parts import kill_group

    began = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "REID_NO_PROGRESS": "1",
                                                         "PYTHONUNBUFFERED": "1"})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return {"status": "timeout", "reason": f"overran its {timeout:.0f} s and was killed",
                "seconds": round(time.monotonic() - began, 1)}
    seconds = round(time.monotonic() - began, 1)
    if proc.returncode != 0 or not result_path.is_file():
        tail = (err or out)[-2000:].strip()
        return {"status": "failed", "reason": f"exit status {proc.returncode}", "detail": tail, "seconds": seconds}
    return {**json.loads(result_path.read_text()), "seconds": seconds}


def work(key: str, timeout: float) -> dict[str, Any]:
    """The part `key`, in this (worker) process, on CUDA against the CPU."""
    import torch

    from tests.benchmarks import gpu_check_parts as parts

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    inner = max(5.0, timeout - 10)  # the part's own subprocesses end before the parent kills it
    return {
        "a": lambda: parts.cuda_tests(inner, cuda_test_files()),
        "b": lambda: parts.training_steps(cuda),
        "c": lambda: parts.demo_pipeline(inner),
        "d": lambda: parts.torchrun_ddp(inner),
        "e": lambda: parts.evaluation_match(cuda, cpu),
        "f": lambda: parts.embed_match(cuda, cpu),
        "g": lambda: parts.peer_methods(cuda),
    }[key]()


def cuda_test_files() -> list[str]:
    """The test files that use the `cuda` marker (so that collection imports only those)."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
                  if "pytest.mark.cuda" in p.read_text(encoding="utf-8"))


def summary(key: str, record: dict[str, Any]) -> str:
    """One line for the table."""
    if record["status"] in ("skipped", "planned", "timeout") or "checks" not in record:
        return record.get("reason", "")
    if key == "b" and record["status"] == "passed":
        f = record["figures"]
        return "; ".join(f"{s} {f[s]['ms']:.1f} ms / {f[s]['peak_gb']} GB (paper {f[s]['paper_ms']} / {f[s]['paper_gb']})"
                         for s in ("stage-1", "stage-2", "inference"))
    failed = [name for name, ok in record["checks"].items() if not ok]
    text = f"{len(record['checks']) - len(failed)}/{len(record['checks'])} checks"
    if key == "d" and "world" in record.get("figures", {}):
        text += f", world size {record['figures']['world']}"
    return text + (f"; failed: {', '.join(failed)}" if failed else "")


def table(records: dict[str, dict[str, Any]]) -> str:
    rows = [f"{'part':<5}{'what':<45}{'status':<9}{'s / budget':>12}  result"]
    for part in PARTS:
        if part.key not in records:
            continue
        r = records[part.key]
        spent = f"{r.get('seconds', '-')} / {r['budget_s']}"
        rows.append(f"{part.key:<5}{part.title:<45}{r['status']:<9}{spent:>12}  {summary(part.key, r)}")
    return "\n".join(rows)


def plan(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each selected part with its budget, command and, where it cannot run, the reason."""
    records = {}
    for part in PARTS:
        if part.key not in args.only:
            continue
        reason = skip_reason(part, env)
        records[part.key] = {"title": part.title, "budget_s": part.budget_s, "command": part.command,
                             "status": "skipped" if reason else "planned", **({"reason": reason} if reason else {})}
    return records


def run_all(records: dict[str, dict[str, Any]], total: float, out_dir: Path) -> None:
    """Run the planned parts in order, each under min(its budget, what is left of `total`)."""
    began = time.monotonic()
    for part in PARTS:
        record = records.get(part.key)
        if record is None or record["status"] != "planned":
            continue
        left = total - (time.monotonic() - began)
        if left < 15:
            record.update(status="skipped", reason=f"no time left of the {total:.0f} s")
            continue
        timeout = min(part.budget_s, left)
        print(f"[{part.key}] {part.title} (limit {timeout:.0f} s) ...", flush=True)
        result_path = out_dir / f"part_{part.key}.json"
        record.update(run_part(worker_argv(part, result_path, timeout), result_path, timeout))
        print(f"[{part.key}] {record['status']} in {record.get('seconds')} s: {summary(part.key, record)}", flush=True)


def default_out() -> Path:
    return Path(tempfile.gettempdir()) / "gpu_check.json"


def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=default_out(), help="the JSON (default: %(default)s)")
    parser.add_argument("--only", default="".join(p.key for p in PARTS), help="the parts to run, e.g. 'bef'")
    parser.add_argument("--total", type=float, default=TOTAL_S, help="seconds for all parts together")
    parser.add_argument("--dry-run", action="store_true", help="list the parts, their commands and budgets")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one part, write its record
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=60, help=argparse.SUPPRESS)
    parser.add_argument("--rank-main", type=Path, help=argparse.SUPPRESS)  # internal: a torchrun rank of part d
    parser.add_argument("--world", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rank_main:
        from tests.benchmarks.gpu_check_parts import rank_main

        rank_main(args.rank_main, args.world, args.device)
        return 0
    if args.worker:
        args.result.write_text(json.dumps(work(args.worker, args.timeout), indent=2, default=str) + "\n")
        return 0
    unknown = set(args.only) - {p.key for p in PARTS}
    if unknown:
        parser.error(f"--only: no part {', '.join(sorted(unknown))} (parts: {''.join(p.key for p in PARTS)})")

    began = time.monotonic()
    env = environment()
    records = plan(args, env)
    print(f"gpu_check: {env.get('gpu', 'no GPU')}, torch {env['torch']} (CUDA {env['torch_cuda']}), "
          f"{len(records)} parts, at most {args.total:.0f} s{' (dry run)' if args.dry_run else ''}", flush=True)
    if args.dry_run:
        for key, record in records.items():
            print(f"  {key}  {record['title']:<45} budget {record['budget_s']:>3} s  "
                  f"{'would skip: ' + record['reason'] if 'reason' in record else 'would run'}\n"
                  f"      {record['command']}")
    else:
        with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
            run_all(records, args.total, Path(tmp))
    report = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
              "dry_run": args.dry_run, "total_budget_s": args.total, "seconds": round(time.monotonic() - began, 1),
              "environment": env, "parts": records,
              "passed": all(r["status"] in ("passed", "skipped", "planned") for r in records.values())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if not args.dry_run:
        print(table(records))
    print(f"wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
