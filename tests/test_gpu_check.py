"""tests/benchmarks/gpu_check.py: its dry run and its skips without CUDA, its time limits, and each part's
check run on the CPU in a tiny configuration (the CUDA runs themselves need a GPU worker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.benchmarks import gpu_check, gpu_check_parts as parts

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
KEYS = set("abcdefg")


def test_the_dry_run_lists_every_part_with_its_command_and_budget(tmp_path):
    out = tmp_path / "dry.json"
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.gpu_check", "--dry-run", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.read_text())
    assert report["dry_run"] is True and set(report["parts"]) == KEYS
    assert sum(p.budget_s for p in gpu_check.PARTS if p.key != "c") < gpu_check.TOTAL_S <= 480
    for part in gpu_check.PARTS:
        record = report["parts"][part.key]
        assert record["budget_s"] == part.budget_s and record["command"] == part.command
        assert f"  {part.key}  {part.title}" in done.stdout and part.command in done.stdout
        assert record["status"] in ("planned", "skipped")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the report of a machine without CUDA")
def test_without_cuda_every_part_is_reported_skipped_with_its_reason(tmp_path):
    out = tmp_path / "check.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["environment"]["cuda_available"] is False and set(report["parts"]) == KEYS
    for record in report["parts"].values():
        assert record["status"] == "skipped" and "CUDA is not available" in record["reason"]


def test_a_part_that_overruns_is_killed_and_reported_as_a_timeout(tmp_path):
    record = gpu_check.run_part([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "r.json", 1.5)
    assert record["status"] == "timeout" and "killed" in record["reason"]
    assert record["seconds"] < 20


def test_a_part_that_crashes_is_failed_with_its_error(tmp_path):
    record = gpu_check.run_part([sys.executable, "-c", "raise SystemExit('boom in the part')"], tmp_path / "r.json", 30)
    assert record["status"] == "failed" and "boom in the part" in record["detail"]


def test_only_selects_parts_and_refuses_an_unknown_one(tmp_path, capsys):
    assert gpu_check.main(["--dry-run", "--only", "be", "--out", str(tmp_path / "x.json")]) == 0
    assert set(json.loads((tmp_path / "x.json").read_text())["parts"]) == {"b", "e"}
    with pytest.raises(SystemExit):
        gpu_check.main(["--only", "bz", "--out", str(tmp_path / "y.json")])
    assert "no part z" in capsys.readouterr().err


def test_part_a_finds_the_cuda_marked_tests_and_reads_pytest_summaries():
    assert "tests/test_inference.py" in gpu_check.cuda_test_files()
    assert parts.pytest_summary("..\n1 passed, 2 skipped, 5 deselected in 3.10s\n") == {
        "passed": 1, "skipped": 2, "deselected": 5}
    assert parts.pytest_summary("=== 3 failed, 1 error in 2s ===") == {"failed": 3, "error": 1}
    assert parts.cuda_tests(10, [])["status"] == "failed"


def test_part_b_times_both_stages_through_fit_and_inference():
    record = parts.training_steps(CPU, backbone="demo", batch=8, iters=2, warmup=1, num_classes=12)
    assert record["status"] == "passed", record
    for stage in ("stage-1", "stage-2", "inference"):
        figures = record["figures"][stage]
        assert figures["batches"] == 3 and figures["ms"] > 0
        assert figures["paper_ms"] == parts.PAPER_TABLE_13[stage]["ms"]


def test_part_c_runs_the_stages_in_a_copy_and_holds_each_target_to_the_committed_interval(tmp_path):
    committed = {"D": {"mAP": 40.0, "mAP_ci95": {"low": 38.0, "high": 42.0}},
                 "MS": {"mAP": 30.0, "mAP_ci95": {"low": 28.0, "high": 32.0}}, "protocol": "MA->D,MS"}
    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    (repo / "metrics/evaluation.json").write_text(json.dumps(committed))
    (repo / "data").mkdir()
    write = ("import json, pathlib; pathlib.Path('metrics').mkdir(exist_ok=True); "
             "pathlib.Path('metrics/evaluation.json').write_text(json.dumps({{'D': {{'mAP': {d}}}, 'MS': {{'mAP': 31.0}}}}))")

    def run(d: float, first: str = "print('synth')") -> dict:
        cmds = {"synth": f'python -c "{first}"  # a comment', "evaluate": f'python -c "{write.format(d=d)}"'}
        (repo / "dvc.yaml").write_text(json.dumps({"stages": {k: {"cmd": v} for k, v in cmds.items()}}))
        work = tmp_path / f"work{len(list(tmp_path.glob('work*')))}"
        work.mkdir()
        return parts.demo_pipeline(60, repo, work)

    inside = run(41.0)
    assert inside["status"] == "passed" and list(inside["figures"]["stage_seconds"]) == ["synth", "evaluate"]
    outside = run(37.9)
    assert outside["status"] == "failed" and outside["figures"]["targets"]["D"]["inside"] is False
    assert outside["figures"]["targets"]["MS"]["inside"] is True
    assert json.loads((repo / "metrics/evaluation.json").read_text()) == committed  # the copy wrote its own
    broken = run(41.0, first="raise SystemExit(3)")
    assert broken["status"] == "failed" and broken["checks"] == {"stage synth ran": False}


def test_part_c_copies_the_repository_without_its_outputs_and_reads_dvc_yaml(tmp_path):
    copy = parts.copy_workspace(tmp_path / "copy")
    assert (copy / "dvc.yaml").is_file() and (copy / "params.yaml").is_file() and (copy / "reid/wiring.py").is_file()
    assert not any((copy / name).exists() for name in ("metrics", "data", "models", "dvclive", ".git", "dvc.lock"))
    stages = parts.stage_commands(REPO / "dvc.yaml")
    assert [s for s, _ in stages][0] == "synth" and stages[-1][0] == "evaluate"
    assert all(argv[0] == sys.executable and argv[1] == "-m" and argv[2] == f"stages.{s}" for s, argv in stages)


def test_part_c_compares_each_committed_target_and_misses_none():
    committed = json.loads((REPO / "metrics/evaluation.json").read_text())
    same = parts.within_intervals(committed, committed)
    assert set(same) == {k for k, v in committed.items() if isinstance(v, dict) and "mAP_ci95" in v} and same
    assert all(row["inside"] for row in same.values())
    assert all(not row["inside"] for row in parts.within_intervals({}, committed).values())


@pytest.mark.slow
def test_part_d_falls_back_to_world_size_1_and_takes_the_ddp_path():
    """World 3 cannot split the batch's 4 identities, so the check falls back to world 1 (gloo on the CPU)."""
    record = parts.torchrun_ddp(150, device_name="cpu", worlds=(3, 1), backend="gloo")
    assert record["status"] == "passed", record
    assert record["figures"]["world"] == 1 and [a["world"] for a in record["figures"]["attempts"]] == [3, 1]
    assert record["figures"]["attempts"][0]["returncode"] not in (0, None)
    assert record["checks"]["backend gloo"] and record["checks"]["losses finite"]


SMALL = {"num_query": 60, "num_gallery": 300, "num_ids": 30, "num_cams": 4, "dim": 32}


def test_part_e_holds_on_equal_devices_and_fails_on_perturbed_distances():
    same = parts.evaluation_match(CPU, CPU, SMALL)
    assert same["status"] == "passed" and same["figures"]["plain"]["max_distance_difference"] == 0.0
    perturbed = parts.evaluation_match(CPU, CPU, SMALL, perturb=0.05)
    assert perturbed["status"] == "failed"
    assert not perturbed["checks"]["plain: distances within 1e-05"]
    assert not perturbed["checks"]["plain: metrics equal (within 1e-06)"]
    assert perturbed["checks"]["rerank: distances within 1e-05"]


def test_part_f_compares_embeddings_of_both_paths():
    record = parts.embed_match(CPU, CPU, backbones=("demo",), images=3)
    assert record["status"] == "passed" and record["figures"]["demo"]["float32_max_difference"] == 0.0
    assert record["figures"]["demo"]["dim"] > 0


@pytest.mark.slow
def test_part_g_runs_every_peer_and_reports_its_losses():
    record = parts.peer_methods(CPU)
    assert record["status"] == "passed", record
    for method in ("clip_reid", "clip_fgdi", "muse", "lvlm_reid"):
        assert record["figures"][method]["losses"], method


def test_a_failing_peer_is_reported_not_raised(monkeypatch):
    def broken(*args):
        raise RuntimeError("no kernel image")

    monkeypatch.setattr(parts, "_clip_peer", broken)
    record = parts.peer_methods(CPU, methods=("clip_reid",))
    assert record["status"] == "failed" and "no kernel image" in record["figures"]["clip_reid"]["error"]
