"""`reid.load_model(...).embed(...)`: the evaluate stage's features, from paths, arrays or PIL images."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

import reid
from reid.errors import InputError
from reid.evaluation.extract import extract
from reid.model.checkpoint import load_for_inference, save_checkpoint
from reid.model.muva import build_reid_encoder
from reid.utils.images import read_image
from tests.kit.params import muva


def some_paths(bench, n: int = 6) -> list[str]:
    return pl.read_parquet(bench.manifests / "C3.parquet")["path"].to_list()[:n]


def test_embed_equals_the_evaluate_stage_features(bench):
    paths = some_paths(bench)
    expected = extract(load_for_inference(bench.checkpoint), paths, batch_size=4, device="cpu", with_masks=True)
    model = reid.load_model(bench.checkpoint, device="cpu")
    features = model.embed(paths, batch_size=4)
    assert features.dtype == np.float32 and features.shape == (6, model.feature_dim) == (6, 4 * 128)
    np.testing.assert_array_equal(features, expected.features.numpy())
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.embed(paths, batch_size=1), features, atol=1e-5)  # batching only rounds
    masks = model.part_masks(paths, batch_size=4)
    rows, cols = model.config.patch_grid
    assert masks.dtype == bool and masks.shape == (6, 3, rows, cols) == (6, 3, 16, 8)
    np.testing.assert_array_equal(masks.reshape(6, 3, -1), expected.part_masks.numpy())


def test_paths_arrays_and_pil_images_give_the_same_features(bench):
    paths = some_paths(bench, 4)
    model = reid.load_model(bench.checkpoint, device="cpu")
    from_paths = model.embed(paths, batch_size=4)
    arrays = [read_image(p) for p in paths]
    np.testing.assert_array_equal(model.embed(arrays, batch_size=4), from_paths)
    np.testing.assert_array_equal(model.embed([Image.open(p) for p in paths], batch_size=4), from_paths)
    mixed = [paths[0], arrays[1], Image.fromarray(arrays[2]), Path(paths[3])]
    np.testing.assert_array_equal(model.embed(mixed, batch_size=4), from_paths)
    np.testing.assert_allclose(model.embed(arrays[0]), from_paths[:1], atol=1e-5)  # one image, not a list
    np.testing.assert_allclose(model.embed(Image.open(paths[0]).convert("L")), model.embed(
        np.repeat(np.asarray(Image.open(paths[0]).convert("L"))[..., None], 3, axis=2)), atol=1e-6)


def test_the_checkpoint_alone_rebuilds_the_model(bench, tmp_path, monkeypatch):
    """No params.yaml, no pretrain checkpoint, no download: the only data file opened is the checkpoint."""
    copy = tmp_path / "elsewhere" / "model.pt"
    copy.parent.mkdir()
    shutil.copy(bench.checkpoint, copy)
    monkeypatch.chdir(tmp_path)
    reid.load_model(copy, device="cpu")  # warm up: imports done before watching
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        model = reid.load_model(copy, device="cpu")
    finally:
        watching[0] = False
    data_files = [p for p in opened if not p.endswith((".py", ".pyc", ".so")) and "/proc/" not in p]
    assert data_files == [str(copy)]
    assert model.config.image_size == (256, 128) and model.preprocess.mean == (0.5, 0.5, 0.5)


def test_bad_inputs_are_input_errors(bench, tmp_path):
    with pytest.raises(InputError, match="no such model file"):
        reid.load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="neither a Re-ID checkpoint .* nor an open_clip checkpoint"):
        reid.load_model(tmp_path / "junk.pt")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            reid.load_model(bench.checkpoint, device="cuda")
    model = reid.load_model(bench.checkpoint, device="cpu")
    with pytest.raises(InputError, match="H×W×3 uint8"):
        model.embed(np.zeros((64, 32, 3), np.float32))
    (tmp_path / "a.jpg").write_text("text")
    with pytest.raises(InputError, match="not an image"):
        model.embed([str(tmp_path / "a.jpg")])
    torch.manual_seed(0)
    save_checkpoint(build_reid_encoder(muva(2, backbone="demo", image_size=[256, 128], parts=[])), tmp_path / "g.pt")
    with pytest.raises(InputError, match="predicts no part masks"):
        reid.load_model(tmp_path / "g.pt", device="cpu").part_masks(some_paths(bench, 1))


def test_load_model_is_lazy():
    """`import reid` (what every stage does) loads no model code; `reid.load_model` does."""
    code = "import sys, reid; print('reid.inference' in sys.modules, reid.load_model.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "reid.inference"]
    with pytest.raises(AttributeError):
        reid.no_such_name  # noqa: B018


@pytest.mark.cuda
def test_cuda_features_match_cpu(bench):
    paths = some_paths(bench, 4)
    gpu = reid.load_model(bench.checkpoint)  # None: CUDA when available
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.embed(paths), reid.load_model(bench.checkpoint, "cpu").embed(paths), atol=2e-2)
