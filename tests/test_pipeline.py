"""End to end: `dvc repro` of the whole demo pipeline with tiny parameters, in a copy of the repository,
then `dvc metrics show` and a `dvc exp run -S protocol.source=...` experiment."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.kit.params import pipeline_params

REPO = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "REID_NO_PROGRESS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git + DVC copy of the tracked files (no data, no models), with tiny parameters committed."""
    root = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        source = REPO / name
        if source.is_file() and not name.startswith(("metrics/", "dvclive/", "plots/")) and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(pipeline_params(), sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny"], root)
    return root


def test_dvc_repro_runs_every_stage_and_writes_per_target_metrics(project):
    run(DVC + ["repro"], project)
    metrics = json.loads((project / "metrics" / "evaluation.json").read_text())
    assert metrics["protocol"] == "MA->D,MS,C3" and metrics["synthetic"] is True
    for target in ("D", "MS", "C3", "average"):
        assert 0.0 <= metrics[target]["mAP"] <= 100.0 and 0.0 <= metrics[target]["rank1"] <= metrics[target]["rank10"]
    pretrain = json.loads((project / "metrics" / "pretrain.json").read_text())
    assert pretrain["skipped"] is False and pretrain["pairs"] == {"train": 40, "test": 8}
    for path in ("models/pretrain/clip.pt", "models/muva.pt", "plots/evaluation/cmc/MS.csv",
                 "plots/evaluation/sheets/ranking_C3.png", "dvclive/pretrain/metrics.json",
                 "dvclive/stage2/metrics.json", "dvclive/stage2/plots/metrics/loss/mask.tsv"):
        assert (project / path).exists(), path
    shown = json.loads(run(DVC + ["metrics", "show", "--json"], project))
    flat = json.dumps(shown)
    assert '"rank1"' in flat and '"prototype"' in flat and '"mask_iou"' in flat and '"zero_shot"' in flat
    assert "Data and pipelines are up to date" in run(DVC + ["status"], project)


def test_an_experiment_changes_the_source_and_only_reruns_what_it_affects(project):
    out = run(DVC + ["exp", "run", "-S", "protocol.source=MS", "-S", "protocol.targets=[MA]"], project)
    assert "Stage 'synth' didn't change, skipping" in out and "Running stage 'stage2'" in out
    assert "Stage 'pretrain' didn't change, skipping" in out
    metrics = json.loads((project / "metrics" / "evaluation.json").read_text())
    assert metrics["protocol"] == "MS->MA" and set(metrics) == {"MA", "average", "protocol", "synthetic", "method"}
    table = run(DVC + ["exp", "show", "--json"], project)
    assert "MS->MA" in table or '"MA"' in table


def test_a_multi_source_experiment_trains_on_the_union_and_tests_the_held_out_domain(project):
    run(DVC + ["exp", "run", "-S", "protocol.source=D+MS+C3", "-S", "protocol.targets=auto"], project)
    protocol = json.loads((project / "data" / "protocol" / "protocol.json").read_text())
    assert protocol["sources"] == ["D", "MS", "C3"] and protocol["num_classes"] == 3 * 16
    metrics = json.loads((project / "metrics" / "evaluation.json").read_text())
    assert metrics["protocol"] == "D+MS+C3->MA" and set(metrics) == {"MA", "average", "protocol", "synthetic", "method"}


def test_a_vision_only_experiment_runs_through_dvc(project):
    """No prompts are learnt, yet the stage leaves every output dvc.yaml declares (its state folder, its log)."""
    shutil.rmtree(project / "checkpoints" / "stage1")  # as in a queued experiment's fresh copy of the workspace
    run(DVC + ["exp", "run", "-S", "train.vision_only=true", "-S", "protocol.source=MA", "-S", "protocol.targets=auto"],
        project)
    assert json.loads((project / "dvclive" / "stage1" / "metrics.json").read_text())["vision_only"] == 1.0
    assert "i2tce" not in json.loads((project / "dvclive" / "stage2" / "metrics.json").read_text())["loss"]


@pytest.mark.parametrize("method", ["clip_fgdi", "clip_reid"])
def test_a_peer_method_reruns_only_the_training_stages_and_evaluate(project, method):
    """After the vision-only experiment (source MA): only what `method` changes runs, upstream is cached."""
    out = run(DVC + ["exp", "run", "-S", f"method={method}", "-S", "train.vision_only=false", "-S", "protocol.source=MA",
                     "-S", "protocol.targets=auto"], project)
    for stage in ("synth", "ingest", "protocol", "ground", "calibrate", "pretrain"):
        assert f"Stage '{stage}' didn't change, skipping" in out, stage
    assert "Running stage 'stage1'" in out and "Running stage 'stage2'" in out and "Running stage 'evaluate'" in out
    metrics = json.loads((project / "metrics" / "evaluation.json").read_text())
    assert metrics["method"] == method and metrics["protocol"] == "MA->D,MS,C3"
    assert (project / "models" / f"{method}.pt").is_file()
    logged = json.loads((project / "dvclive" / "stage2" / "metrics.json").read_text())
    assert set(logged["image"]["loss"]) == {"id", "triplet", "i2tce"} | ({"apn"} if method == "clip_fgdi" else set())
