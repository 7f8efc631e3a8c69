"""Bad parameters, table-driven: each stops the first stage with one line naming key, value and fix.

Every case writes a params file with one wrong value into an empty folder, runs a stage there
(`synth`, the first, unless the check needs upstream data) and asserts the exit status, the
words of the message and that nothing was written.
"""

from __future__ import annotations

import copy
import errno
import importlib.machinery
import importlib.metadata
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml

from reid.config.load import load_config
from reid.data.run import run_ingest
from reid.errors import ConfigError
from reid.grounding.experts.cogvlm import check_cogvlm_extra
from stages.common import main
from tests.kit import datasets as fx
from tests.kit.params import section

pytestmark = pytest.mark.filterwarnings("ignore:.*counts differ from the official ones")  # tiny fixture datasets

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def setter(path: str, value: Any) -> Callable[[dict], None]:
    def apply(params: dict) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return apply


def stage_exit(tmp_path: Path, stage: str, params: dict | str, monkeypatch, capsys) -> tuple[int, str]:
    """Run `stage` in `tmp_path` with `params` (a mapping, or raw text); its exit status and stderr."""
    path = tmp_path / "bad.yaml"
    path.write_text(params if isinstance(params, str) else yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [stage, "--params", str(path)])
    with pytest.raises(SystemExit) as exit_:
        main(stage)
    return exit_.value.code, capsys.readouterr().err


CASES = [  # (parameter, bad value, words the message must hold)
    ("stage2.lr", -1, ["stage2.lr = -1", "greater than 0"]),
    ("stage1.epochs", 0, ["stage1.epochs = 0", "greater than or equal to 1"]),
    ("model.backbone", "ViT-Z", ["model.backbone = 'ViT-Z'", "allowed: ViT-B-16, demo"]),
    ("grounding.expert", "clip", ["grounding.expert = 'clip'", "allowed: 'cogvlm', 'pose', 'stripes' or 'oracle'"]),
    ("train.augment.flp", 0.5, ["train.augment.flp = 0.5", "unknown key", "flip, random_crop"]),
    ("train.seed", KeyError, ["train.seed: missing", "add it"]),
    ("model.image_size", [250, 128], ["model.image_size = [250, 128]", "multiples of 16"]),
    ("protocol.source", "MA+XX", ["protocol.source = 'MA+XX'", "'XX' is no dataset", "MA, D, MS, C3"]),
    ("protocol.targets", ["D", "Duke"], ["protocol.targets = ['D', 'Duke']", "'Duke' is no dataset"]),
    ("train.device", "gpu", ["train.device = 'gpu'", "allowed: auto, cpu, mps, cuda or cuda:N"]),
    ("model.parts", ["legs", "head"], ["model.parts = ['legs', 'head']", "in the order ['head', 'upper', 'legs']"]),
    ("model.rmp.heads", 3, ["model.rmp.heads = 3", "divide the backbone width 128"]),
    ("data.cuhk03_subset", "both", ["data.cuhk03_subset = 'both'", "'detected' or 'labeled'"]),
    ("data.custom", {"MA": "data/custom/ma"}, ["data.custom.MA", "built-in dataset"]),
    ("calibration.quantiles", [0.9, 0.1], ["calibration.quantiles = [0.9, 0.1]", "low < high"]),
    ("masks.mode", "thirds", ["masks.mode = 'thirds'", "'calibrated' or 'stripes'"]),
    ("stage2.milestones", [90], ["stage2.milestones = [90]", "within the 8 epochs"]),
    ("evaluation.max_rank", 5, ["evaluation.max_rank = 5", "greater than or equal to 10"]),
    ("train.vision_only", "yes", ["train.vision_only = 'yes'", "valid boolean"]),
    ("pretrain.min_lr", 1.0, ["pretrain.min_lr = 1.0", "must not exceed lr"]),
    ("synth.queries_per_id", [3, 1], ["synth.queries_per_id = [3, 1]", "low <= high"]),
    ("grounding.max_error_fraction", 2, ["grounding.max_error_fraction = 2", "less than or equal to 1"]),
    ("method", "fgdi", ["method = 'fgdi'", "allowed: 'muva', 'clip_reid', 'clip_fgdi' or 'lvlm_reid'"]),
    ("clip_reid.beta", 0.1, ["clip_reid.beta = 0.1", "it is a key of clip_fgdi, not of clip_reid"]),
    ("clip_fgdi.domain_unit", "cam", ["clip_fgdi.domain_unit = 'cam'", "'dataset' or 'camera'"]),
    ("clip_fgdi.image.milestones", [10], ["clip_fgdi.image.milestones = [10]", "within the 9 epochs (prior_epochs"]),
]


@pytest.mark.parametrize(("key", "value", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_value_stops_the_first_stage_naming_it(tmp_path, monkeypatch, capsys, key, value, words):
    params = copy.deepcopy(PARAMS)
    setter(key, value)(params)
    status, err = stage_exit(tmp_path, "synth", params, monkeypatch, capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error in stage synth: ")
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no work was done


def test_the_message_gives_the_line_of_the_key(tmp_path, monkeypatch, capsys):
    text = (REPO / "params.yaml").read_text().replace("  lr: 5.0e-5", "  lr: -5.0e-5")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  lr: -5.0e-5"))
    status, err = stage_exit(tmp_path, "synth", text, monkeypatch, capsys)
    assert status == 2 and f"bad.yaml line {line}: stage2.lr = -5e-05" in err


def test_several_problems_are_named_in_one_line(tmp_path, monkeypatch, capsys):
    params = copy.deepcopy(PARAMS)
    for key, value in [("stage2.lr", 0), ("stage1.lr", 0), ("evaluation.batch_size", 0), ("train.workers", -1)]:
        setter(key, value)(params)
    status, err = stage_exit(tmp_path, "synth", params, monkeypatch, capsys)
    assert status == 2 and err.count("\n") == 1
    assert ": train.workers = -1: must be greater than or equal to 0; also stage1.lr = 0: must be greater than 0; " \
           "stage2.lr = 0: must be greater than 0 (and 1 more)" in err  # in the file's order of sections


@pytest.mark.parametrize(
    ("text", "words"),
    [("synth: {seed: 0\n", ["bad.yaml line", "not valid YAML"]), ("- a\n- b\n", ["expected a mapping of sections"])],
)
def test_a_broken_params_file_is_named(tmp_path, monkeypatch, capsys, text, words):
    status, err = stage_exit(tmp_path, "synth", text, monkeypatch, capsys)
    assert status == 2 and all(w in err for w in words)


def test_a_key_given_twice_is_named_with_both_lines(tmp_path, monkeypatch, capsys):
    lines = yaml.safe_dump(PARAMS, sort_keys=False).splitlines()
    section = lines.index("stage2:")
    first = next(i for i in range(section, len(lines)) if lines[i].startswith("  lr:"))
    lines.insert(section + 1, "  lr: 0.1")  # YAML alone would keep the later value silently
    status, err = stage_exit(tmp_path, "synth", "\n".join(lines) + "\n", monkeypatch, capsys)
    assert status == 2
    assert f"bad.yaml line {first + 2}: stage2.lr is given twice (also on line {section + 2}); keep one" in err


def fake_installed(monkeypatch, names: tuple[str, ...], absent: tuple[str, ...] = ()) -> None:
    """Modules `names` importable (empty stand-ins) and `absent` not, whatever this environment holds."""
    for name in names:
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)
    for name in absent:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError, installed or not


COGVLM = ("transformers", "accelerate", "sentencepiece", "einops", "xformers")
EXTRA_FIX = "; pip install -c constraints.txt -e '.[cogvlm]' in an environment of its own"


@pytest.mark.parametrize(("expert", "present", "absent", "version", "words"), [
    ("cogvlm", (), COGVLM, None,
     "grounding.expert = 'cogvlm': needs the [cogvlm] extra (transformers, accelerate, sentencepiece, einops, xformers "
     "not installed)" + EXTRA_FIX),
    ("cogvlm", COGVLM[1:], COGVLM[:1], None,
     "grounding.expert = 'cogvlm': needs the [cogvlm] extra (transformers not installed)" + EXTRA_FIX),
    ("cogvlm", COGVLM, (), "5.25.0",  # the [dev] / [mllm] transformers
     "grounding.expert = 'cogvlm': needs the [cogvlm] extra (transformers 5.25.0 is installed, its remote code needs "
     "< 4.42)" + EXTRA_FIX),
    ("pose", (), ("mediapipe",), None, "grounding.expert = 'pose': needs MediaPipe 0.10.14, which is not installed; "
                                       "pip install --no-deps mediapipe==0.10.14"),
])
def test_an_expert_without_its_extra_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, expert, present,
                                                                  absent, version, words):
    fake_installed(monkeypatch, present, absent)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    params = copy.deepcopy(PARAMS)
    params["grounding"]["expert"] = expert
    status, err = stage_exit(tmp_path, "ground", params, monkeypatch, capsys)
    assert status == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]  # nothing read (no training manifest here), nothing written


@pytest.mark.parametrize(("version", "four_bit", "refused"), [("4.41.2", False, False), ("4.42.0.dev0", False, True),
                                                              ("4.41.2", True, True)])
def test_the_cogvlm_extra_check_accepts_its_own_versions(monkeypatch, version, four_bit, refused):
    fake_installed(monkeypatch, COGVLM, ("bitsandbytes",))
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    config = section("grounding.cogvlm", load_in_4bit=four_bit)
    if not refused:
        check_cogvlm_extra(config)
        return
    with pytest.raises(ConfigError, match="grounding.expert = 'cogvlm': needs the \\[cogvlm\\] extra"):
        check_cogvlm_extra(config)


def test_a_missing_params_file_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["synth", "--params", "nowhere.yaml"])
    with pytest.raises(SystemExit) as exit_:
        main("synth")
    assert exit_.value.code == 2 and "nowhere.yaml: no such params file" in capsys.readouterr().err


def test_both_shipped_configurations_are_valid():
    assert load_config(REPO / "params.yaml").model.backbone == "demo"
    assert load_config(REPO / "configs/paper.yaml").model.backbone == "ViT-B-16"
    for method in ("clip_fgdi", "clip_reid"):
        assert load_config(REPO / f"configs/paper_{method}.yaml").method == method


def test_no_key_of_the_tree_has_a_default():
    """params.yaml decides every run: a key left out is an error, never a library default."""
    from pydantic import BaseModel

    from reid.config.schema import PipelineConfig

    def keys(model: type[BaseModel], prefix: str = "") -> dict[str, bool]:
        found = {}
        for name, field in model.model_fields.items():
            found[prefix + name] = field.is_required()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                found |= keys(field.annotation, f"{prefix}{name}.")
        return found

    tree = keys(PipelineConfig)
    assert {"grounding.cogvlm.model", "model.rmp.heads", "train.augment.flip"} <= set(tree)  # nested too
    assert [key for key, required in tree.items() if not required] == []


# --- checks that need the machine or the data ---------------------------------------------

@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """A folder with the fixture datasets ingested into data/manifests, as the ingest stage leaves it."""
    fx.make_all(tmp_path / "datasets")
    run_ingest(tmp_path / "datasets", tmp_path / "data/manifests", tmp_path / "data/manifests/summary.json", workers=1)
    return tmp_path


def test_a_batch_larger_than_the_source_stops_the_protocol_stage(ingested, monkeypatch, capsys):
    params = copy.deepcopy(PARAMS)
    params["data"]["root"] = "datasets"
    params["train"]["ids_per_batch"] = 500
    status, err = stage_exit(ingested, "protocol", params, monkeypatch, capsys)
    assert status == 2
    assert "train.ids_per_batch = 500: the protocol's source has only" in err and "use at most" in err


def test_a_custom_dataset_outside_the_tracked_folders_is_refused(ingested, monkeypatch, capsys, tmp_path_factory):
    outside = fx.make_custom(tmp_path_factory.mktemp("elsewhere"))
    params = copy.deepcopy(PARAMS)
    params["data"].update(root="datasets", custom={"CAMS": str(outside)})
    status, err = stage_exit(ingested, "ingest", params, monkeypatch, capsys)
    assert status == 2
    assert f"data.custom.CAMS = '{outside}': lies outside data.root (datasets) and data/custom/" in err
    assert "move or copy the folder under data/custom/" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_asked_for_on_a_cpu_machine_is_named(tmp_path, monkeypatch, capsys):
    params = copy.deepcopy(PARAMS)
    params["evaluation"]["device"] = "cuda:1"
    status, err = stage_exit(tmp_path, "evaluate", params, monkeypatch, capsys)
    assert status == 2 and "evaluation.device = 'cuda:1': CUDA is not available on this machine; use auto or cpu" in err


def test_a_full_disk_is_named_with_the_path(tmp_path, monkeypatch, capsys):
    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device", "data/demo/MSMT17_V1/train/0001.jpg")

    monkeypatch.setattr("reid.synth.generate.generate_benchmark", full)
    status, err = stage_exit(tmp_path, "synth", copy.deepcopy(PARAMS), monkeypatch, capsys)
    assert status == 1 and "no space left on device writing data/demo/MSMT17_V1/train/0001.jpg" in err


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_a_read_only_output_is_named_with_the_path(tmp_path, monkeypatch, capsys, code):
    def denied(*_):
        raise OSError(code, os.strerror(code), "data/grounding/store/rank0-000001.parquet")

    monkeypatch.setattr("reid.synth.generate.generate_benchmark", denied)
    status, err = stage_exit(tmp_path, "synth", copy.deepcopy(PARAMS), monkeypatch, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"data/grounding/store/rank0-000001.parquet: {os.strerror(code).lower()}; make it (or its folder) writable" in err


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr("reid.synth.generate.generate_benchmark", lambda *_: {}["missing"])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["synth", "--params", "bad.yaml"])
    with pytest.raises(KeyError):
        main("synth")


def test_a_stage_reading_an_undeclared_section_is_a_bug(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["synth", "--params", "bad.yaml"])
    monkeypatch.setattr("reid.synth.generate.synth", lambda params, io: params.train)
    with pytest.raises(AttributeError, match="stage synth reads params section 'train'"):
        main("synth")


def test_the_real_entry_point_exits_2_with_one_line(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["stage2"]["lr"] = "fast"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run([sys.executable, "-m", "stages.stage2", "--params", str(tmp_path / "p.yaml")],
                          cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error in stage stage2: {tmp_path / 'p.yaml'} line {_line(tmp_path / 'p.yaml', 'stage2', 'lr')}: "
        f"stage2.lr = 'fast': must be a valid number, unable to parse string as a number"
    ]


def _line(path: Path, section: str, key: str) -> int:
    rows = path.read_text().splitlines()
    start = rows.index(f"{section}:")
    return next(i for i, row in enumerate(rows[start:], start + 1) if row.startswith(f"  {key}:"))


def test_a_target_without_queries_stops_the_protocol_stage(ingested, monkeypatch, capsys):
    import polars as pl

    manifest = ingested / "data/manifests/D.parquet"
    pl.read_parquet(manifest).filter(pl.col("split") != "query").write_parquet(manifest)
    params = copy.deepcopy(PARAMS)
    params["data"]["root"] = "datasets"
    params["protocol"]["targets"] = ["D", "MS"]
    params["train"]["ids_per_batch"] = 2
    status, err = stage_exit(ingested, "protocol", params, monkeypatch, capsys)
    assert status == 2 and "protocol.targets = 'D': dataset D has no query images" in err
    assert not (ingested / "data/protocol").exists()  # refused before anything was written


def test_a_missing_upstream_artifact_names_its_stage(tmp_path, monkeypatch, capsys):
    status, err = stage_exit(tmp_path, "protocol", copy.deepcopy(PARAMS), monkeypatch, capsys)
    assert status == 2 and "data/manifests is missing: it is made by stage 'ingest'; re-run it with `dvc repro ingest`" in err


def test_no_ingested_dataset_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "data/manifests").mkdir(parents=True)
    status, err = stage_exit(tmp_path, "protocol", copy.deepcopy(PARAMS), monkeypatch, capsys)
    assert status == 2 and "protocol.source = 'MA': MA is not among the ingested datasets; allowed: none found" in err
