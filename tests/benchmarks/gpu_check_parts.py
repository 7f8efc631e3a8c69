"""The parts of `gpu_check` (README "On a GPU worker"): each a function of the device it checks.

Every function here returns a JSON-ready dict {"status": "passed" | "failed", "checks": {name: bool},
"figures": {...}, "detail": str}; `gpu_check` runs each in its own process under a time limit.
They take their device (and their size) as arguments so that the suite can run them on the CPU
in a tiny configuration (tests/test_gpu_check.py): the check itself is tested, not only listed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
PAPER_TABLE_13 = {  # MUVA, ViT-B/16, RTX A6000, batch 64: ms per batch, GB
    "stage-1": {"ms": 161.2, "gb": 7.2}, "stage-2": {"ms": 247.2, "gb": 6.9}, "inference": {"ms": 69.4, "gb": 0.9}}
DISTANCE_TOL = 1e-5  # part e: CUDA against CPU distances
METRIC_TOL = 1e-6  # part e: mAP / mINP / CMC as fractions
EMBED_TOL = 1e-5  # part f: float32 features, CUDA against CPU
EMBED_AUTOCAST_TOL = 2e-2  # part f: the shipped bf16 path (tests/test_inference.py's tolerance)
NUM_CLASSES = 751  # Market-1501's training identities


def result(checks: dict[str, bool], figures: dict[str, Any], detail: str = "") -> dict[str, Any]:
    """A part's record: passed when every check holds (and there is one)."""
    status = "passed" if checks and all(checks.values()) else "failed"
    return {"status": status, "checks": checks, "figures": figures, "detail": detail}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def float32_exact() -> Iterator[None]:
    """No TF32 in matmuls or convolutions, for comparisons at 1e-5 (the shipped CUDA path uses autocast)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def finite_losses(records: list[dict[str, float]] | dict[str, float]) -> tuple[bool, dict[str, float]]:
    """(every logged loss is finite and there is one, the last record's losses)."""
    records = [records] if isinstance(records, dict) else list(records)
    losses = {k: float(v) for r in records for k, v in r.items() if "loss" in k and isinstance(v, (int, float))}
    last = {k: float(v) for k, v in (records[-1] if records else {}).items() if "loss" in k}
    return bool(losses) and all(math.isfinite(v) for v in losses.values()), last


# ---------------------------------------------------------------- part a: the CUDA-marked tests

def pytest_summary(output: str) -> dict[str, int]:
    """Counts by outcome of pytest's last summary line ("2 passed, 1 skipped, 3 deselected in 3.1s")."""
    words = ("passed", "failed", "skipped", "deselected", "error", "errors", "xfailed", "xpassed")
    for line in reversed(output.strip().splitlines()):
        tokens = line.replace(",", " ").replace("=", " ").split()
        counts = {word.replace("errors", "error"): int(number) for number, word in zip(tokens, tokens[1:])
                  if number.isdigit() and word in words}
        if counts:
            return counts
    return {}


def cuda_tests(timeout: float, files: list[str]) -> dict[str, Any]:
    """`pytest -m cuda` on `files`: every CUDA-marked test passes and none is skipped."""
    if not files:
        return result({"some file uses pytest.mark.cuda": False}, {})
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider", *files]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "REID_NO_PROGRESS": "1"})
    counts = pytest_summary(done.stdout)
    checks = {"pytest exit 0": done.returncode == 0, "some CUDA test ran": counts.get("passed", 0) > 0,
              "none skipped": counts.get("skipped", 0) == 0}
    return result(checks, {"counts": counts, "returncode": done.returncode}, done.stdout[-1500:])


# ---------------------------------------------------------------- part b: training steps against Table 13

def fake_training_data(num_classes: int, per_id: int, num_patches: int):
    """A TrainingData of `num_classes` × `per_id` images that are never read (the steps get tensors)."""
    from reid.training.data import TrainingData

    n = num_classes * per_id
    return TrainingData(
        image_ids=[f"i{i}" for i in range(n)], paths=["unread.png"] * n,
        labels=torch.arange(num_classes).repeat_interleave(per_id),
        masks=torch.rand(n, 3, num_patches) < 0.4, class_domains=[0] * num_classes, num_classes=num_classes,
        domains=torch.zeros(n, dtype=torch.long), cameras=torch.zeros(n, dtype=torch.long))


def timed(batches: Iterator, times: list[float], device: torch.device) -> Iterator:
    """Yield `batches`, appending the seconds between consecutive requests: each interval is one
    whole iteration of `fit`'s loop (lr, step, finite check, backward, optimiser, after_step)."""
    last = None
    for batch in batches:
        sync(device)
        now = time.perf_counter()
        if last is not None:
            times.append(now - last)
        last = now
        yield batch
    sync(device)
    times.append(time.perf_counter() - last)


def run_fit(task, n_batches: int, batches: Callable[[], Iterator], device: torch.device) -> tuple[list[float], float]:
    """`reid.engine.loop.fit` itself for one epoch of `n_batches` of `task`: (seconds per batch, peak GB)."""
    from reid.engine.distributed import Dist
    from reid.engine.loop import fit

    times: list[float] = []
    task.epochs = 1
    task.begin_epoch = lambda epoch: (timed(itertools.islice(batches(), n_batches), times, device), n_batches)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory(prefix="gpu_check_fit_") as tmp:
        fit(task, "gpu-check", Path(tmp) / "state", Path(tmp) / "live", Dist(device=device))
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return times, peak


def stage_figures(times: list[float], warmup: int, peak_gb: float, paper: dict[str, float] | None) -> dict[str, Any]:
    """Median ms after `warmup` batches, peak GB, and the paper's figures beside them."""
    kept = sorted(times[warmup:]) or sorted(times)
    ms = 1000 * kept[len(kept) // 2]
    return {"ms": round(ms, 2), "peak_gb": None if math.isnan(peak_gb) else round(peak_gb, 3), "batches": len(times),
            "paper_ms": paper and paper["ms"], "paper_gb": paper and paper["gb"]}


def training_steps(device: torch.device, backbone: str = "ViT-B-16", batch: int = 64, iters: int = 10,
                   warmup: int = 3, num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """Stage-1 (`PromptTask`) and stage-2 (`ImageTask`) steps through `fit`, and inference (`encode_batch`),
    of a random-init model from `reid.model.factory`, configs/paper.yaml's recipe."""
    from reid.config.load import load_config
    from reid.engine.distributed import Dist
    from reid.evaluation.extract import encode_batch
    from reid.model.configs import MuvaConfig
    from reid.model.factory import build_model
    from reid.training.stage1 import PromptTask
    from reid.training.stage2 import ImageTask

    paper = load_config(REPO / "configs/paper.yaml")
    train = paper.train.model_copy(update={"ids_per_batch": batch // paper.train.images_per_id, "workers": 0})
    config = MuvaConfig.of(paper.model.model_copy(update={"backbone": backbone, "pretrained": None}), ["MA"],
                           num_classes)
    data = fake_training_data(num_classes, paper.train.images_per_id, config.num_patches)
    ctx, n = Dist(device=device), warmup + iters
    figures, finite = {}, {}

    torch.manual_seed(0)
    model = build_model(config).to(device)
    memory = torch.nn.functional.normalize(torch.randn(num_classes, config.feature_dim, device=device), dim=1)
    task = PromptTask(model, data, train, paper.stage1, ctx)
    task.start = lambda t=task: setattr(t, "memory", memory)  # the visual memory without reading images
    sampler = task.sampler
    sampler.set_epoch(0)
    times, peak = run_fit(task, n, lambda s=sampler: iter(s), device)
    figures["stage-1"] = stage_figures(times, warmup, peak, PAPER_TABLE_13["stage-1"])
    finite["stage-1"] = bool(torch.isfinite(model.prompts.tokens).all())

    del task, sampler, model  # stage-2 starts from a fresh model (all of it trainable), as it loads stage-1's checkpoint
    torch.manual_seed(0)
    model = build_model(config).to(device)
    text_memory = torch.randn(num_classes, config.feature_dim, device=device)
    image_task = ImageTask(model, text_memory, data, train, paper.stage2, ctx)
    image_task.memory = memory.clone()
    image_task.names = set()
    image_task.net.train()
    labels = torch.randperm(num_classes)[: train.ids_per_batch].repeat_interleave(train.images_per_id)
    one = [torch.randn(len(labels), 3, *config.image_size), (torch.rand(len(labels), 3, config.num_patches) < 0.4).float(),
           labels, torch.arange(len(labels))]
    times, peak = run_fit(image_task, n, lambda: itertools.repeat(one), device)
    figures["stage-2"] = stage_figures(times, warmup, peak, PAPER_TABLE_13["stage-2"])
    finite["stage-2"] = bool(torch.isfinite(image_task.memory).all())

    encoder = model.image.eval()
    images = torch.randn(batch, 3, *config.image_size)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for _ in range(n):
            start = time.perf_counter()
            out = encode_batch(encoder, images, device, with_masks=False)
            sync(device)
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    figures["inference"] = stage_figures(times, warmup, peak, PAPER_TABLE_13["inference"])
    finite["inference"] = bool(torch.isfinite(out.features).all())
    figures["setting"] = {"backbone": backbone, "batch": batch, "identities_per_batch": train.ids_per_batch,
                          "classes": num_classes, "image_size": list(config.image_size), "device": str(device),
                          "precision": _precision(device)}
    checks = {f"{k} finite": v for k, v in finite.items()}
    return result(checks, figures, "fit's own loop with PromptTask / ImageTask; the paper's figures are an RTX A6000's")


def _precision(device: torch.device) -> str:
    from reid.utils.device import autocast_dtype

    dtype = autocast_dtype(device)
    return "float32" if dtype is None else str(dtype).replace("torch.", "")


# ---------------------------------------------------------------- part c: the demo pipeline on CUDA

COPY_SKIP = {".git", ".dvc/cache", ".dvc/tmp", "data", "models", "checkpoints", "dvclive", "plots", "metrics",
             "__pycache__", ".pytest_cache", ".hypothesis", ".venv", ".whl", ".gl"}


def copy_workspace(target: Path, repo: Path = REPO) -> Path:
    """The repository without its outputs (what a fresh clone has), so the committed metrics stay untouched."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(repo)
        return {n for n in names if str(rel / n).lstrip("./") in COPY_SKIP or n in COPY_SKIP
                or n.endswith(".egg-info") or n == "dvc.lock"}

    shutil.copytree(repo, target, ignore=ignore, symlinks=True)
    return target


def stage_commands(dvc_yaml: Path) -> list[tuple[str, list[str]]]:
    """(stage, argv) of every stage in dvc.yaml, in its order (generated in pipeline order), `python` this one."""
    import yaml

    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = []
    for name, stage in stages.items():
        argv = shlex.split(stage["cmd"], comments=True)
        out.append((name, [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]))
    return out


def within_intervals(new: dict[str, Any], committed: dict[str, Any]) -> dict[str, Any]:
    """Per target of the committed metrics (those with a mAP_ci95): the new mAP, the interval, inside or not."""
    rows = {}
    for target, old in committed.items():
        if not isinstance(old, dict) or "mAP_ci95" not in old:
            continue
        got = new.get(target, {}).get("mAP") if isinstance(new.get(target), dict) else None
        low, high = old["mAP_ci95"]["low"], old["mAP_ci95"]["high"]
        rows[target] = {"mAP": got, "committed_mAP": old["mAP"], "ci95": [low, high],
                        "inside": got is not None and low <= got <= high}
    return rows


def demo_pipeline(timeout: float, repo: Path = REPO, workspace: Path | None = None) -> dict[str, Any]:
    """Every stage of dvc.yaml, in a copy without outputs, on the default params.yaml (device auto: CUDA where
    present); then metrics/evaluation.json against the committed one's 95 % intervals."""
    deadline = time.monotonic() + timeout
    owned = workspace is None
    workspace = workspace or Path(tempfile.mkdtemp(prefix="gpu_check_demo_"))
    try:
        copy = copy_workspace(workspace / "repo", repo)
        env = {**os.environ, "REID_NO_PROGRESS": "1", "PYTHONPATH": str(copy)}
        seconds: dict[str, float] = {}
        for name, argv in stage_commands(copy / "dvc.yaml"):
            began = time.monotonic()
            try:
                done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True,
                                      timeout=max(1.0, deadline - began))
            except subprocess.TimeoutExpired:
                seconds[name] = round(time.monotonic() - began, 1)
                return result({f"stage {name} ran in time": False}, {"stage_seconds": seconds},
                              f"stage {name} overran the part's {timeout:.0f} s")
            seconds[name] = round(time.monotonic() - began, 1)
            if done.returncode != 0:
                return result({f"stage {name} ran": False}, {"stage_seconds": seconds},
                              (done.stdout[-800:] + done.stderr[-1500:]).strip())
        new = json.loads((copy / "metrics/evaluation.json").read_text())
        committed = json.loads((repo / "metrics/evaluation.json").read_text())
        rows = within_intervals(new, committed)
        checks = {"every stage ran": True, "targets compared": bool(rows),
                  **{f"{t} mAP inside the committed 95 % interval": r["inside"] for t, r in rows.items()}}
        return result(checks, {"targets": rows, "stage_seconds": seconds, "method": new.get("method")},
                      "stages of dvc.yaml in sequence in a copy without outputs")
    finally:
        if owned:
            shutil.rmtree(workspace, ignore_errors=True)


# ---------------------------------------------------------------- part d: torchrun with NCCL

def rank_main(root: Path, world: int, device_name: str) -> None:
    """One torchrun rank: the real run_stage1 + run_stage2 on the tiny set, then what this rank holds.

    Two ranks on a one-GPU machine share cuda:0 (LOCAL_RANK is set to 0 before the library reads it).
    World size 1: `init_distributed` makes no group then, so the rank makes the NCCL group itself and
    marks its Dist enabled, which sends the library's DDP path (DDP wrap, all_gather) through NCCL.
    """
    import torch.distributed as dist

    import reid.training.stage1 as stage1_module
    import reid.training.stage2 as stage2_module
    from reid.engine.distributed import init_distributed, shutdown
    from reid.training.data import load_training_data
    from tests.kit.params import section, tiny_config

    if device_name == "cuda" and torch.cuda.device_count() < world:
        os.environ["LOCAL_RANK"] = "0"
    if world == 1:
        device = torch.device("cuda", 0) if device_name == "cuda" else torch.device("cpu")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        ctx = one_rank_group()(0, 1, device, 0, True)
    else:
        ctx = init_distributed(device_name)
    held: dict[str, Any] = {}
    prepare = stage2_module.prepare_model

    def prepare_and_hold(model, *args, **kwargs):
        held["model"] = model
        return prepare(model, *args, **kwargs)

    stage2_module.prepare_model = prepare_and_hold
    try:
        train = section("train", ids_per_batch=4, images_per_id=2, memory_batch_size=16, device=device_name, workers=0)
        stage1 = section("stage1", epochs=1, lr=1e-3, warmup_epochs=1)
        stage2 = section("stage2", epochs=2, lr=1e-3, warmup_iters=0, milestones=[2])
        data = load_training_data(root / "train.parquet", root / "masks.parquet")
        stage1_module.run_stage1(data, tiny_config(data.num_classes), None, train, stage1, root / "stage1",
                                 root / "s1state", root / "s1live", ctx)
        record = stage2_module.run_stage2(data, root / "stage1", train, stage2, root / "muva.pt", root / "s2state",
                                          root / "s2live", ctx)
        weights = {k: v.detach().cpu() for k, v in held["model"].state_dict().items()}
        torch.save({"backend": dist.get_backend(), "world": dist.get_world_size(), "record": record,
                    "weights": weights}, root / f"rank{ctx.rank}.pt")
    finally:
        if world == 1:
            dist.destroy_process_group()
        else:
            shutdown(ctx)


def one_rank_group() -> type:
    """A Dist of world size 1 that still takes the library's DDP path (its group made by `rank_main`)."""
    from dataclasses import dataclass

    from reid.engine.distributed import Dist

    @dataclass(frozen=True)
    class OneRankGroup(Dist):
        @property
        def enabled(self) -> bool:
            return True

    return OneRankGroup


def torchrun_command(root: Path, world: int, device_name: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}",
            "-m", "tests.benchmarks.gpu_check", "--rank-main", str(root), "--world", str(world),
            "--device", device_name]


def check_ranks(root: Path, world: int, backend: str) -> tuple[dict[str, bool], dict[str, Any]]:
    """Every rank wrote its weights, through `backend`, identical on all ranks, with finite losses."""
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(world)
             if (root / f"rank{r}.pt").is_file()]
    checks = {f"{world} rank(s) finished": len(ranks) == world}
    if len(ranks) == world:
        first = ranks[0]["weights"]
        checks[f"backend {backend}"] = all(r["backend"] == backend for r in ranks)
        checks["weights identical on every rank"] = all(
            r["weights"].keys() == first.keys() and all(torch.equal(r["weights"][k], first[k]) for k in first)
            for r in ranks)
        checks["losses finite"] = all(finite_losses(r["record"])[0] for r in ranks)
    return checks, {"record": ranks[0]["record"] if ranks else None}


def torchrun_ddp(timeout: float, device_name: str = "cuda", worlds: tuple[int, ...] = (2, 1),
                 backend: str = "nccl") -> dict[str, Any]:
    """Try `worlds` in turn (2 ranks on the one GPU first: NCCL may refuse two ranks on one device)."""
    from tests.training.helpers import write_training_set

    deadline, attempts = time.monotonic() + timeout, []
    for i, world in enumerate(worlds):
        root = Path(tempfile.mkdtemp(prefix=f"gpu_check_ddp{world}_"))
        try:
            write_training_set(root, ids=8, per_id=4)
            share = (deadline - time.monotonic()) / (len(worlds) - i)  # leave the later tries their share
            try:
                done = _run_group(torchrun_command(root, world, device_name), share)
                tail, rc = (done.stdout + done.stderr)[-3000:], done.returncode
            except subprocess.TimeoutExpired:
                tail, rc = f"timed out after {share:.0f} s", None
            checks, figures = check_ranks(root, world, backend) if rc == 0 else ({"torchrun exit 0": False}, {})
            attempts.append({"world": world, "returncode": rc, "checks": checks, "tail": tail if rc != 0 else ""})
            if rc == 0:
                return result(checks, {"world": world, "attempts": attempts, **figures},
                              f"world size {world} with {backend}" + (" (2 ranks on one GPU)" if world == 2
                                                                       and torch.cuda.device_count() == 1 else ""))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return result({"some world size ran": False}, {"attempts": attempts}, "every world size failed")


def _run_group(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """`argv` in its own process group, killed as a whole when it overruns (torchrun's ranks too)."""
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "REID_NO_PROGRESS": "1"})
    try:
        out, err = proc.communicate(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


# ---------------------------------------------------------------- part e: evaluation and re-ranking

MARKET = {"num_query": 3_368, "num_gallery": 15_913, "num_ids": 751, "num_cams": 6, "dim": 512}


def max_difference(a: Callable[[int, int], torch.Tensor], b: Callable[[int, int], torch.Tensor], num_query: int,
                   chunk: int = 128) -> float:
    """max |a − b| over all query chunks of two distance sources (never a whole matrix); inf counts as equal."""
    worst = 0.0
    for start in range(0, num_query, chunk):
        stop = min(start + chunk, num_query)
        x, y = a(start, stop).double().cpu(), b(start, stop).double().cpu()
        same_inf = torch.isinf(x) & torch.isinf(y)
        diff = torch.where(same_inf, torch.zeros_like(x), (x - y).abs())
        worst = max(worst, float(diff.max()))
    return worst


def metric_differences(m, n) -> dict[str, float]:
    """|Δ| of mAP, mINP and the CMC, and the queries whose first hit moved, of two ReIDMetrics."""
    return {"mAP_difference": abs(m.mAP - n.mAP), "mINP_difference": abs(m.mINP - n.mINP),
            "cmc_difference": float(np.abs(np.asarray(m.cmc) - np.asarray(n.cmc)).max()),
            "first_hit_queries_differing": int((m.first_hit != n.first_hit).sum())}


def noisy(distances: Callable[[int, int], torch.Tensor], amount: float) -> Callable[[int, int], torch.Tensor]:
    """`distances` plus seeded uniform noise of `amount` (0: themselves), for the test of this check."""
    if not amount:
        return distances

    def chunk(start: int, stop: int) -> torch.Tensor:
        d = distances(start, stop)
        noise = torch.rand(d.shape, generator=torch.Generator().manual_seed(start))
        return d + amount * noise.to(d.device)

    return chunk


def evaluation_match(device: torch.device, reference: torch.device, scale: dict[str, int] = MARKET,
                     perturb: float = 0.0) -> dict[str, Any]:
    """Plain and k-reciprocal evaluation on `device` against `reference`: distances within DISTANCE_TOL,
    metrics within METRIC_TOL. `perturb` adds noise to the device's plain distances (for the test of this check)."""
    from reid.config.load import load_config
    from reid.evaluation.metrics import _distances, evaluate_distances
    from reid.evaluation.rerank import KReciprocal
    from tests.benchmarks.bench_eval import make_data

    data = make_data(**scale)
    ids = data["ids"]
    rerank = load_config(REPO / "configs/paper.yaml").evaluation.rerank.model_copy(update={"enabled": True})
    nq, ng = scale["num_query"], scale["num_gallery"]
    figures, checks = {"scale": scale, "device": str(device), "reference": str(reference)}, {}
    sources: dict[str, dict[str, Callable]] = {"plain": {}, "rerank": {}}
    seconds = {}
    for role, where in (("reference", reference), ("device", device)):
        q, g = data["query_feats"].to(where), data["gallery_feats"].to(where)
        plain = lambda s, e, q=q, g=g: _distances(q[s:e], g)  # noqa: E731
        sources["plain"][role] = noisy(plain, perturb if role == "device" else 0.0)
        began = time.perf_counter()
        sources["rerank"][role] = KReciprocal(q, g, rerank)
        sync(where)
        seconds[f"rerank build, {role} ({where})"] = round(time.perf_counter() - began, 2)
    for kind, pair in sources.items():
        metrics = [evaluate_distances(lambda s, e, f=pair[role]: f(s, e).clone(), nq, ng, *ids, device=where)
                   for role, where in (("reference", reference), ("device", device))]
        diff = metric_differences(*metrics)
        distance = max_difference(pair["reference"], pair["device"], nq)
        figures[kind] = {"max_distance_difference": distance, **diff, "mAP": metrics[1].mAP,
                         "reference_mAP": metrics[0].mAP}
        checks[f"{kind}: distances within {DISTANCE_TOL:g}"] = distance <= DISTANCE_TOL
        checks[f"{kind}: metrics equal (within {METRIC_TOL:g})"] = all(
            diff[k] <= METRIC_TOL for k in ("mAP_difference", "mINP_difference", "cmc_difference"))
    figures["seconds"] = seconds
    return result(checks, figures)


# ---------------------------------------------------------------- part f: embed

def embed_match(device: torch.device, reference: torch.device, backbones: tuple[str, ...] = ("demo", "ViT-B-16"),
                images: int = 16) -> dict[str, Any]:
    """`reid.load_model(...).embed` on `device` against `reference`: float32 (autocast off, no TF32) within
    EMBED_TOL; the shipped path (bf16 autocast on CUDA) within EMBED_AUTOCAST_TOL."""
    import reid
    import reid.evaluation.extract as extract
    from reid.model.checkpoint import save_checkpoint
    from reid.model.muva import build_muva
    from tests.kit.params import muva

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (int(rng.integers(96, 160)), int(rng.integers(48, 80)), 3), dtype=np.uint8)
              for _ in range(images)]
    checks, figures = {}, {}
    with tempfile.TemporaryDirectory(prefix="gpu_check_embed_") as tmp:
        for backbone in backbones:
            torch.manual_seed(0)
            path = Path(tmp) / f"{backbone}.pt"
            save_checkpoint(build_muva(muva(NUM_CLASSES, backbone=backbone, image_size=[256, 128])).image, path)
            shipped = [reid.load_model(path, where).embed(arrays, batch_size=8) for where in (reference, device)]
            saved = extract.autocast
            extract.autocast = lambda _device: contextlib.nullcontext()
            try:
                with float32_exact():
                    exact = [reid.load_model(path, where).embed(arrays, batch_size=8) for where in (reference, device)]
            finally:
                extract.autocast = saved
            d_exact = float(np.abs(exact[0] - exact[1]).max())
            d_shipped = float(np.abs(shipped[0] - shipped[1]).max())
            figures[backbone] = {"float32_max_difference": d_exact, "shipped_max_difference": d_shipped,
                                 "shipped_precision": _precision(device), "dim": int(exact[0].shape[1])}
            checks[f"{backbone}: float32 within {EMBED_TOL:g}"] = d_exact <= EMBED_TOL
            checks[f"{backbone}: shipped path within {EMBED_AUTOCAST_TOL:g}"] = d_shipped <= EMBED_AUTOCAST_TOL
    return result(checks, figures, f"{images} random images of random sizes; random-init checkpoints")


# ---------------------------------------------------------------- part g: the peer methods

def peer_methods(device: torch.device, methods: tuple[str, ...] = ("clip_reid", "clip_fgdi", "muse", "lvlm_reid")
                 ) -> dict[str, Any]:
    """One short run of each peer's CUDA path on the tiny set: it runs and its losses are finite."""
    runs = {"clip_reid": _clip_peer, "clip_fgdi": _clip_peer, "muse": _muse, "lvlm_reid": _lvlm}
    checks, figures = {}, {}
    with tempfile.TemporaryDirectory(prefix="gpu_check_peers_") as tmp:
        for method in methods:
            root = Path(tmp) / method
            root.mkdir()
            began = time.perf_counter()
            try:
                ok, last = runs[method](method, root, device)
                figures[method] = {"losses": last}
            except Exception as exc:  # a part reports what broke, then goes on to the next method
                ok = False
                figures[method] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
            figures[method]["seconds"] = round(time.perf_counter() - began, 1)
            checks[f"{method} ran, losses finite"] = ok
    return result(checks, figures)


def _on(section, device: torch.device):
    return section.model_copy(update={"device": device.type})


def _clip_peer(method: str, root: Path, device: torch.device) -> tuple[bool, dict[str, float]]:
    """Stage 1 and stage 2 of CLIP-ReID / CLIP-FGDI (`run_peer_stage1`, `run_peer_stage2`)."""
    from reid.engine.distributed import Dist
    from reid.training.data import load_training_data
    from reid.training.peers import run_peer_stage1, run_peer_stage2
    from tests.kit.params import tiny_model_params, tiny_peer, tiny_train_configs
    from tests.training.helpers import write_training_set

    write_training_set(root, domains=2)
    data = load_training_data(root / "train.parquet", None)
    train = _on(tiny_train_configs()[0], device)
    section = tiny_peer(method, **({"domain_unit": "dataset"} if method == "clip_fgdi" else {}))
    ctx = Dist(device=device)
    first = run_peer_stage1(method, section, tiny_model_params(), train, data, ["MA", "D"], root / "s1",
                            root / "s1state", root / "s1live", ctx)
    second = run_peer_stage2(method, section, train, data, root / "s1", root / "model.pt", root / "s2state",
                             root / "s2live", ctx)
    ok1, _ = finite_losses(first)
    ok2, last = finite_losses(second)
    return ok1 and ok2, last


def _muse(method: str, root: Path, device: torch.device) -> tuple[bool, dict[str, float]]:
    """MUSE: LoRA SFT of a tiny Qwen2-VL, μ of a few pairs, then μ fused into k-reciprocal re-ranking."""
    from reid.evaluation.metrics import evaluate_distances
    from reid.evaluation.rerank import KReciprocal
    from reid.muse.fusion import MuOverride
    from reid.muse.pairs import mine_pairs
    from reid.muse.sft import load_judge, pair_mu, pair_set, run_sft
    from tests.kit.params import section
    from tests.muse.kit import people, tiny_vlm, tiny_vlm_section

    train = people(root / "img", ids=8, per_id=4)
    labels = torch.tensor(train["label"].to_list())
    feats = torch.nn.functional.normalize(torch.randn(train.height, 16) + 1.5 * torch.nn.functional.one_hot(labels, 16),
                                          dim=1)
    muse = section("muse", enabled=True, pairs={"k": 2, "val_id_ratio": 0.25, "truncate": 1.0, "seed": 0},
                   sft={"epochs": 1, "batch_size": 8, "lr": 2e-3, "workers": 0, "check_pairs": None})
    pairs = mine_pairs(train, feats, muse.pairs)
    vlm = _on(tiny_vlm_section(tiny_vlm(root / "vlm")), device)
    record = run_sft(pairs, vlm, muse.sft, root / "adapter", root / "state", root / "live")
    mu = pair_mu(load_judge(vlm, root / "adapter"), pair_set(pairs.head(6), vlm.image_size, answers=False), 4, 0,
                 tau=1.0)
    mu = torch.as_tensor(np.asarray(mu), dtype=torch.float32)
    q, g = feats[:6].to(device), feats[6:].to(device)
    override = MuOverride.of(torch.arange(6), torch.arange(6), mu, 0.2, 6, len(g)).pairs(q, g)
    ranked = KReciprocal(q, g, section("evaluation.rerank"), override=override)
    ids = (labels[:6], labels[6:], torch.zeros(6, dtype=torch.long), torch.ones(len(g), dtype=torch.long))
    fused_map = evaluate_distances(ranked, 6, len(g), *ids, device=device).mAP
    ok, last = finite_losses(record)
    ok = ok and bool(torch.isfinite(mu).all()) and bool(((mu >= 0) & (mu <= 1)).all()) and math.isfinite(fused_map)
    return ok, {**last, "mu_mean": float(mu.mean()), "fused_mAP": fused_map}


def _lvlm(method: str, root: Path, device: torch.device) -> tuple[bool, dict[str, float]]:
    """LVLM-ReID: the semantic tokens of a tiny VLM, then the SGI warm-up and the end-to-end stage."""
    from reid.engine.distributed import Dist
    from reid.training.data import load_training_data
    from reid.training.lvlm import run_lvlm_stage1, run_lvlm_stage2
    from reid.wiring import run_stage
    from tests.kit.params import config, section, tiny_model_params, tiny_train_configs
    from tests.muse.kit import tiny_vlm
    from tests.training.helpers import write_training_set

    train_path, _ = write_training_set(root)
    vlm_dir = tiny_vlm(root / "vlm")
    tree = config(**{"method": "lvlm_reid", "vlm.model": str(vlm_dir), "vlm.image_size": [56, 28],
                     "vlm.device": device.type, "evaluation.batch_size": 8})
    run_stage("semantic", tree, {"train": train_path, "vlm": vlm_dir, "tokens": root / "lvlm",
                                 "metrics": root / "semantic.json"})
    data = load_training_data(train_path, None)
    train = _on(tiny_train_configs()[0], device)
    lvlm = section("lvlm_reid", sgi_blocks=1, sgi_heads=2, sgi_warmup_epochs=1,
                   image={"epochs": 1, "milestones": [1], "lr": 1e-3, "warmup_epochs": 1})
    ctx = Dist(device=device)
    first = run_lvlm_stage1(lvlm, tiny_model_params(), train, data, ["MA"], root / "lvlm", root / "stage1",
                            root / "s1state", root / "s1live", ctx)
    second = run_lvlm_stage2(lvlm, train, data, root / "lvlm", root / "stage1", root / "model.pt", root / "s2state",
                             root / "s2live", ctx)
    ok1, _ = finite_losses(first)
    ok2, last = finite_losses(second)
    return ok1 and ok2, last
