"""The `reid` CLI: every stage with explicit options outside DVC, and a trained model's embed,
search, evaluate and export; bad arguments are one line and exit status 2."""

from __future__ import annotations

import errno
import importlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from typer.testing import CliRunner

import reid.cli.model
import reid.evaluation.extract
import reid.feature_store
from reid import load_model
from reid.cli import app
from reid.evaluation.bootstrap import bootstrap_draws
from reid.evaluation.metrics import evaluate_features
from reid.evaluation.run import bootstrap_seed
from reid.feature_store import read_features
from reid.model.checkpoint import save_checkpoint
from reid.model.factory import build_image_side
from reid.model.muva import build_reid_encoder
from reid.utils.images import read_image
from reid.wiring import STAGES
from stages.common import main
from tests.kit import datasets as fx
from tests.kit.clip import IMAGE_SIZE, TINY_CLIP
from tests.kit.params import peer, pipeline_params, tiny_config
from tests.kit.prior import write_prior

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def failed_cleanly(result, text: str) -> bool:
    """Exit status 2 with `text` in a one-line message, no traceback."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code == 2 and text in result.output and len(lines) == 1 and result.exception is not None


@pytest.fixture()
def images(bench, tmp_path) -> Path:
    """A folder of 7 test images of the fixture benchmark (one in a subfolder)."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    paths = pl.read_parquet(bench.manifests / "C3.parquet")["path"].to_list()[:7]
    for i, path in enumerate(paths):
        shutil.copy(path, folder / ("sub" if i == 6 else "") / f"{i}.jpg")
    return folder


def params_file(folder: Path, **sections: dict) -> Path:
    """The kit's pipeline params, with `sections` updated, as a file."""
    params = pipeline_params()
    for name, values in sections.items():
        params[name].update(values)
    file = folder / "params.yaml"
    file.write_text(yaml.safe_dump(params, sort_keys=False))
    return file


@pytest.mark.filterwarnings("ignore::reid.data.summary.CountMismatchWarning")
def test_ingest_and_protocol_commands(tmp_path: Path) -> None:
    fx.make_all(tmp_path / "root")
    out, file = tmp_path / "manifests", params_file(tmp_path)
    result = invoke("ingest", "--params", file, "--root", tmp_path / "root", "--manifests", out,
                    "--set", "data.datasets=[MA, C3]", "--set", "data.cuhk03_subset=labeled")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.parquet")) == ["C3.parquet", "MA.parquet"]
    assert json.loads((out / "summary.json").read_text())["datasets"]["C3"]["layout"] == "labeled"
    protocol = ["protocol", "--params", file, "--manifests", out, "--protocol", tmp_path / "p", "-S", "protocol.source=C3",
                "-S", "protocol.targets=auto"]
    result = invoke(*protocol, "-S", "train.ids_per_batch=2")
    assert result.exit_code == 0, result.output
    assert "C3->MA: 2 identities, 3 training images" in result.output
    result = invoke(*protocol, "-S", "train.ids_per_batch=8")
    assert failed_cleanly(result, "train.ids_per_batch"), result.output


def ingest_custom(route: str, folder: str, tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """Ingest `data.custom: {CU: folder}` (data.root: data/demo, which does not hold it) from `tmp_path`, the
    repository, by `route`: written in params.yaml for `python -m stages.ingest`, or `reid ingest -S data.custom=...`."""
    custom = {"custom": {"CU": folder}} if route == "params.yaml" else {}
    file = params_file(tmp_path, data={"root": "data/demo", "datasets": ["CU"], **custom})
    monkeypatch.chdir(tmp_path)
    if route == "reid ingest -S":
        result = invoke("ingest", "--params", file, "-S", f"data.custom={{CU: {folder}}}")
        return result.exit_code, result.output
    monkeypatch.setattr(sys, "argv", ["ingest", "--params", str(file)])
    try:
        main("ingest")
    except SystemExit as exit_:
        return int(exit_.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


ROUTES = ["params.yaml", "reid ingest -S"]


@pytest.mark.filterwarnings("ignore::reid.data.summary.CountMismatchWarning")
@pytest.mark.parametrize("route", ROUTES)
def test_a_custom_dataset_written_as_the_readme_shows_is_ingested(route: str, tmp_path: Path, monkeypatch, capsys):
    """`data.custom: {CU: data/custom/cu}` is relative to the repository for the check and for ingestion alike."""
    fx.make_custom(tmp_path / "data" / "custom").rename(tmp_path / "data" / "custom" / "cu")
    status, output = ingest_custom(route, "data/custom/cu", tmp_path, monkeypatch, capsys)
    assert status == 0, output
    manifest = pl.read_parquet(tmp_path / "data" / "manifests" / "CU.parquet")
    assert manifest["path"].to_list()[:2] == ["data/custom/cu/a.jpg", "data/custom/cu/sub/b.jpg"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_custom_dataset_that_is_not_there_is_named_with_its_resolved_path(route: str, tmp_path: Path, monkeypatch,
                                                                             capsys):
    (tmp_path / "data" / "demo" / "data" / "custom" / "cu").mkdir(parents=True)  # under data.root: not what is meant
    status, output = ingest_custom(route, "data/custom/cu", tmp_path, monkeypatch, capsys)
    assert status == 2 and len(output.strip().splitlines()) == 1, output
    assert (f"data.custom.CU = 'data/custom/cu': no such folder {tmp_path / 'data/custom/cu'} (a relative folder is "
            f"relative to the repository root, the working directory); give the folder holding") in output


def test_embed_writes_the_api_features(bench, images, tmp_path):
    out = tmp_path / "f.parquet"
    result = invoke("embed", images, "--model", bench.checkpoint, "--out", out, "--batch-size", 3, "--workers", 0)
    assert result.exit_code == 0, result.output
    assert "7 images (7 computed now) x 512 features" in result.output
    paths, features = read_features(out)
    assert paths == sorted(str(p.resolve()) for p in images.rglob("*.jpg"))
    np.testing.assert_array_equal(features, load_model(bench.checkpoint, "cpu").embed(paths, batch_size=3))
    assert not out.with_name("f.parquet.parts").exists()


def test_a_second_embed_into_an_output_in_use_is_refused(bench, images, tmp_path):
    out = tmp_path / "f.parquet"
    parts = out.with_name("f.parquet.parts")
    with reid.feature_store.writer_lock(parts, out):  # another run holds the output
        result = invoke("embed", images, "-m", bench.checkpoint, "--out", out, "--workers", 0)
    assert failed_cleanly(result, f"{out} is being written by another reid embed"), result.output
    assert not out.exists()
    assert invoke("embed", images, "-m", bench.checkpoint, "--out", out, "--workers", 0).exit_code == 0  # once it is free


def test_embed_into_a_read_only_folder_fails_before_the_model_loads(images, tmp_path, monkeypatch):
    def read_only(*_, **__):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro"))

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(reid.cli.model, "load_model", lambda *_: pytest.fail("the model was loaded"))
    result = invoke("embed", images, "-m", tmp_path / "any.pt", "--out", tmp_path / "ro" / "f.parquet")
    assert failed_cleanly(result, f"the --out folder {tmp_path / 'ro'} is not writable (read-only file system); make "
                                  f"it writable, or choose another --out"), result.output


def test_embed_resumes_after_a_kill(bench, images, tmp_path, monkeypatch):
    """Killed after 2 of 4 batches (the 3rd half-written): the rerun computes only the 3 missing images."""
    single = tmp_path / "single.parquet"
    assert invoke("embed", images, "-m", bench.checkpoint, "--out", single, "--batch-size", 2, "--workers", 0).exit_code == 0
    write = reid.feature_store.write_features

    def killed_on_third(path, *args):
        if path.name == "part-000002.parquet":
            path.with_name(path.name + ".tmp").write_bytes(b"half a file")
            raise KeyboardInterrupt  # the process dies here
        write(path, *args)

    out = tmp_path / "f.parquet"
    monkeypatch.setattr(reid.feature_store, "write_features", killed_on_third)
    invoke("embed", images, "-m", bench.checkpoint, "--out", out, "--batch-size", 2, "--workers", 0)
    assert not out.exists() and len(list(out.with_name("f.parquet.parts").glob("part-*.parquet"))) == 2
    monkeypatch.setattr(reid.feature_store, "write_features", write)
    encoded = []
    forward = reid.evaluation.extract.encode_batch
    monkeypatch.setattr(reid.inference, "encode_batch", lambda m, x, *a: encoded.append(len(x)) or forward(m, x, *a))
    result = invoke("embed", images, "-m", bench.checkpoint, "--out", out, "--batch-size", 2, "--workers", 0)
    assert result.exit_code == 0, result.output
    assert "4 of 7 images already embedded" in result.output and sum(encoded) == 3
    (paths, features), (paths1, features1) = read_features(out), read_features(single)
    assert paths == paths1
    np.testing.assert_allclose(features, features1, atol=1e-6)
    encoded.clear()  # a complete output: nothing to compute
    assert "(0 computed now)" in invoke("embed", images, "-m", bench.checkpoint, "--out", out).output
    assert encoded == []


def test_search_ranks_the_gallery_and_draws_a_sheet(bench, images, tmp_path):
    query = images / "2.jpg"
    sheet = tmp_path / "s.png"
    result = invoke("search", "-m", bench.checkpoint, "--gallery", images, "--query", query, "--top", 5,
                    "--sheet", sheet)
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if re.match(r"\s+\d+\s", line)]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][2] == str(query.resolve()) and float(rows[0][1]) < 1e-4  # the query itself is in the gallery
    distances = [float(r[1]) for r in rows]
    assert distances == sorted(distances)
    height, width = read_image(sheet).shape[:2]
    assert width >= 6 * 64 and height > 128  # the query and 5 matches at 128 px high, with captions
    store = tmp_path / "g.parquet"
    assert invoke("embed", images, "-m", bench.checkpoint, "--out", store).exit_code == 0
    again = invoke("search", "-m", bench.checkpoint, "--gallery", store, "--query", query, "--top", 5, "--sheet", sheet)
    assert [line.split()[2] for line in again.output.splitlines() if re.match(r"\s+\d+\s", line)] == [r[2] for r in rows]


def test_evaluate_a_dataset_equals_the_stage_on_that_target(bench, tmp_path):
    out = tmp_path / "e.json"
    result = invoke("evaluate", "-m", bench.checkpoint, "--dataset", "C3", "--manifests", bench.manifests,
                    "--json", out, "--workers", 0)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("C3:")]
    assert len(lines) == 1, result.output  # one line per target, as the stage prints it: with the 95 % intervals
    interval = r"\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\]"
    assert re.fullmatch(rf"C3: mAP {interval}  mINP \d+\.\d\d  Rank-1 {interval}  Rank-5 \d+\.\d\d  "
                        rf"Rank-10 \d+\.\d\d  \(\d+ queries, 0 skipped, \d+ gallery\)", lines[0]), lines[0]
    alone = json.loads(out.read_text())["C3"]
    stage = invoke("evaluate", "-m", bench.checkpoint, "--manifests", bench.manifests, "--protocol", bench.protocol,
                   "--metrics", tmp_path / "m.json", "--cmc", tmp_path / "cmc", "--cmc-plot", tmp_path / "cmc.png",
                   "--sheets", tmp_path / "sheets", "--params", "params.yaml",
                   "--set", "evaluation.workers=0", "--set", "evaluation.bootstrap_draws=0",
                   "--set", "evaluation.sheet_queries=0", "--set", "evaluation.mask_images=0")
    assert stage.exit_code == 0, stage.output
    in_protocol = json.loads((tmp_path / "m.json").read_text())["C3"]
    assert {k: alone[k] for k in ("mAP", "rank1", "rank5", "rank10", "queries", "gallery")} == \
           {k: in_protocol[k] for k in ("mAP", "rank1", "rank5", "rank10", "queries", "gallery")}


def test_evaluate_a_clip_prior_on_datasets_is_the_evaluator_on_its_embeddings(bench, tmp_path):
    """One line per target with the bootstrap helper's intervals, and the numbers of the evaluator run on the
    prior's `embed` by hand."""
    write_prior(tmp_path / "clip.pt")
    out, draws = tmp_path / "e.json", 200
    result = invoke("evaluate", "-m", tmp_path / "clip.pt", "--dataset", "C3", "--dataset", "MA",
                    "--manifests", bench.manifests, "--json", out, "--workers", 0,
                    "-S", f"evaluation.bootstrap_draws={draws}")
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["method"] == "clip_prior" and record["average"]["targets"] == "C3,MA"
    prior = load_model(tmp_path / "clip.pt", "cpu")
    for target in ("C3", "MA"):
        frame = pl.read_parquet(bench.manifests / f"{target}.parquet")
        query, gallery = (frame.filter(pl.col("split") == s) for s in ("query", "gallery"))
        metrics = evaluate_features(prior.embed(query["path"].to_list()), prior.embed(gallery["path"].to_list()),
                                    *(f[c].to_numpy() for c in ("pid", "camid") for f in (query, gallery)))
        ci = bootstrap_draws(metrics.ap, metrics.first_hit, query["pid"].to_numpy(), draws,
                             seed=bootstrap_seed(target)).intervals(0.95)
        assert record[target]["mAP"] == round(100 * metrics.mAP, 2) and record[target]["queries"] == metrics.num_valid
        lines = [line for line in result.output.splitlines() if line.startswith(f"{target}")]
        assert len(lines) == 1, result.output
        shown = {k: f"{100 * getattr(metrics, k):.2f} [{100 * ci[k].low:.2f}, {100 * ci[k].high:.2f}]"
                 for k in ("mAP", "rank1")}
        assert lines[0].startswith(f"{target}: mAP {shown['mAP']}  mINP {100 * metrics.mINP:.2f}  "
                                   f"Rank-1 {shown['rank1']}  "), (lines[0], shown)


@pytest.mark.slow  # torch's dynamo exporter: ~10 s even for a tiny model
def test_export_matches_pytorch_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    save_checkpoint(build_reid_encoder(tiny_config(5)), tmp_path / "tiny.pt")
    onnx = tmp_path / "encoder.onnx"
    result = invoke("export", "-m", tmp_path / "tiny.pt", "--onnx", onnx)
    assert result.exit_code == 0, result.output
    assert float(re.search(r"max abs difference (\S+) ", result.output).group(1)) <= 1e-4
    model = load_model(tmp_path / "tiny.pt", "cpu")
    rgb = np.random.default_rng(0).integers(0, 256, size=(4, 80, 40, 3), dtype=np.uint8)  # not the input size
    batch = torch.stack([model.preprocess(x) for x in rgb]).numpy()
    features, masks = ort.InferenceSession(str(onnx)).run(None, {"images": batch})
    assert np.abs(features - model.embed(rgb)).max() <= 1e-4
    np.testing.assert_array_equal(masks.reshape(model.part_masks(rgb).shape), model.part_masks(rgb))


def test_bad_arguments_are_one_line_and_status_2(bench, images, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    ck = bench.checkpoint
    cases = {
        "no such model file": ["embed", images, "-m", tmp_path / "none.pt", "--out", tmp_path / "f.parquet"],
        "no images": ["embed", tmp_path / "empty", "-m", ck, "--out", tmp_path / "f.parquet"],
        "not an image": ["search", "-m", ck, "--gallery", images, "--query", tmp_path / "notes.txt"],
        "no such file or folder": ["search", "-m", ck, "--gallery", tmp_path / "nowhere", "--query", images / "1.jpg"],
        "C9.parquet is missing": ["evaluate", "-m", ck, "--dataset", "C9", "--manifests", bench.manifests],
        "nor an open_clip checkpoint": ["evaluate", "-m", tmp_path / "notes.txt", "--dataset", "C3",
                                        "--manifests", bench.manifests],
        "expected KEY=VALUE": ["stage1", "--set", "train.epochs"],
        "unknown key": ["stage2", "--set", "train.epoch=1"],
    }
    if not torch.cuda.is_available():
        cases["CUDA is not available"] = ["embed", images, "-m", ck, "--out", tmp_path / "f.parquet", "--device", "cuda"]
    for text, args in cases.items():
        result = invoke(*args)
        assert failed_cleanly(result, text), (text, result.output)
    assert "is dataset C9 under data.root?" in invoke(*cases["C9.parquet is missing"]).output
    other = tmp_path / "other.pt"
    torch.manual_seed(1)
    save_checkpoint(build_reid_encoder(tiny_config(5)), other)
    assert invoke("embed", images, "-m", ck, "--out", tmp_path / "g.parquet", "--workers", 0).exit_code == 0
    result = invoke("search", "-m", other, "--gallery", tmp_path / "g.parquet", "--query", images / "1.jpg")
    assert failed_cleanly(result, "holds features of another model"), result.output


def test_pipeline_subcommands_on_a_tiny_benchmark(tmp_path):
    """synth → ingest → protocol → ground → calibrate → pretrain (skipped) → stage1 → stage2 → evaluate,
    one epoch each, every path explicit."""
    t = tmp_path
    file = params_file(t, synth=dict(train_ids=6, test_ids=4, images_per_id=2, distractors=2, junk=1),
                       train=dict(ids_per_batch=2), model=dict(pretrained=None), stage2=dict(epochs=1, milestones=[1]))
    steps = [
        ["synth", "--benchmark", t / "demo", "-S", "synth.seed=1"],
        ["ingest", "--root", t / "demo", "--manifests", t / "m"],
        ["protocol", "--manifests", t / "m", "--protocol", t / "p", "-S", "protocol.source=MA"],
        ["ground", "--train", t / "p" / "train.parquet", "--store", t / "store",
         "--boxes", t / "boxes.parquet", "--sheet", t / "g.png", "--metrics", t / "g.json"],
        ["calibrate", "--boxes", t / "boxes.parquet", "--train", t / "p" / "train.parquet", "--masks", t / "masks",
         "--plot", t / "cal" / "h.png", "--plot-data", t / "cal" / "h.csv", "--sheet", t / "cal" / "s.png",
         "--metrics", t / "cal.json"],
        ["pretrain", "--model", t / "pre", "--data", t / "pre_data", "--state", t / "pre_state",
         "--live", t / "pre_live", "--metrics", t / "pre.json"],
        ["stage1", "--protocol", t / "p", "--masks", t / "masks" / "masks.parquet", "--model", t / "s1",
         "--state", t / "s1_state", "--metrics", t / "s1_live" / "metrics.json", "--plots", t / "s1_live" / "plots" / "metrics"],
        ["stage2", "--train", t / "p" / "train.parquet", "--masks", t / "masks" / "masks.parquet", "--stage1", t / "s1",
         "--model", t / "muva.pt", "--state", t / "s2_state",
         "--metrics", t / "s2_live" / "metrics.json", "--plots", t / "s2_live" / "plots" / "metrics"],
        ["evaluate", "-m", t / "muva.pt", "--dataset", "MA", "--manifests", t / "m", "--json", t / "e.json",
         "--workers", 0],
    ]
    for args in steps:
        result = invoke(*args, "--params", file)
        assert result.exit_code == 0, (args[0], result.output)
    assert (t / "m" / "MA.parquet").is_file()
    assert json.loads((t / "g.json").read_text())["images"] == 12
    assert (t / "cal" / "h.png").is_file() and (t / "cal" / "s.png").is_file()
    assert json.loads((t / "pre.json").read_text()).get("skipped")
    assert (t / "s1" / "model.pt").is_file()
    assert 0 <= json.loads((t / "e.json").read_text())["MA"]["mAP"] <= 100


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_subcommand_runs_its_stage_as_dvc_does(name, monkeypatch):
    """With default options, `reid NAME --params params.yaml` calls the function `python -m stages.NAME` calls,
    with the same params and the paths dvc.yaml declares."""
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    module, _, function = STAGES[name].entry.partition(":")
    calls = []
    monkeypatch.setattr(importlib.import_module(module), function, lambda p, io: calls.append((p, io)))
    monkeypatch.setattr(sys, "argv", [f"stages/{name}.py", "--params", str(params)])
    with pytest.raises(SystemExit) as done:
        main(name)
    assert done.value.code == 0
    result = invoke(name, "--params", params)
    assert result.exit_code == 0, result.output
    (dvc_params, dvc_io), (cli_params, cli_io) = calls
    assert cli_io == dvc_io
    resolved = {**dvc_io.inputs, **dvc_io.outputs}
    for role, spec in {**STAGES[name].inputs, **STAGES[name].outputs}.items():
        assert "${" in spec.path or resolved[role] == Path(spec.path)
    for section in STAGES[name].sections:
        assert getattr(cli_params, section) == getattr(dvc_params, section)


@pytest.mark.slow  # torch's dynamo exporter
def test_a_clip_fgdi_model_embeds_and_exports_like_muvas(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    encoder = build_image_side(peer(5, "clip_fgdi", clip=TINY_CLIP, image_size=list(IMAGE_SIZE)))
    assert encoder.config.input_norm == "instance" and encoder.config.test_feature == "before_bn"
    save_checkpoint(encoder, tmp_path / "fgdi.pt")
    onnx = tmp_path / "encoder.onnx"
    result = invoke("export", "-m", tmp_path / "fgdi.pt", "--onnx", onnx)
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "fgdi.pt", "cpu")
    rgb = np.random.default_rng(0).integers(0, 256, size=(3, 80, 40, 3), dtype=np.uint8)
    batch = torch.stack([model.preprocess(x) for x in rgb]).numpy()
    (features,) = ort.InferenceSession(str(onnx)).run(None, {"images": batch})
    assert features.shape == (3, 32 + 16) and np.abs(features - model.embed(rgb)).max() <= 1e-4
