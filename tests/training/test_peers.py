"""CLIP-ReID and CLIP-FGDI trained on the tiny set: what each phase moves, what the stages write, kill -9."""

import json

import pytest
import torch
import torch.nn.functional as F

from reid.engine.distributed import Dist
from reid.model.checkpoint import load_for_inference, read_checkpoint
from reid.model.clip_reid import PeerEncoder
from reid.model.factory import build_model
from reid.training.config import recipe
from reid.training.data import load_training_data
from reid.training.peers import (
    OPTIMIZER_FILE,
    RELEVANT_FILE,
    TEXT_MEMORY_FILE,
    peer_config,
    warn_inert,
    run_peer_stage1,
    run_peer_stage2,
)
from tests.kit.kill_child import kill_then_resume
from tests.kit.params import tiny_model_params, tiny_peer, tiny_train_configs
from tests.training.helpers import write_training_set

SOURCES = ["MA", "D"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    write_training_set(root, domains=2)
    return root


def stage1(root, method, **fields):
    data = load_training_data(root / "train.parquet", None)
    train, _, _ = tiny_train_configs()
    out = root / f"{method}-stage1"
    records = run_peer_stage1(method, tiny_peer(method, **fields), tiny_model_params(), train, data, SOURCES, out,
                              root / f"{method}-s1state", root / f"{method}-s1live", Dist())
    return data, train, out, records


@pytest.fixture(scope="module")
def clip_reid(root):
    return stage1(root, "clip_reid")


@pytest.fixture(scope="module")
def clip_fgdi(root):
    return stage1(root, "clip_fgdi", domain_unit="dataset")


def test_domains_are_the_sources_or_their_cameras_and_one_domain_is_called_inert(tmp_path, capsys):
    write_training_set(tmp_path, domains=2, cameras=3)
    data = load_training_data(tmp_path / "train.parquet", None)
    by_dataset = peer_config(tiny_model_params(), "clip_fgdi", tiny_peer("clip_fgdi", domain_unit="dataset"), SOURCES, data)
    by_camera = peer_config(tiny_model_params(), "clip_fgdi", tiny_peer("clip_fgdi", domain_unit="camera"), SOURCES, data)
    assert (by_dataset.num_domains, by_camera.num_domains) == (2, 6)  # 2 sources x 3 cameras
    assert sorted(set(zip(data.domains.tolist(), data.cameras.tolist()))) == [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]
    warn_inert("clip_fgdi", recipe(tiny_peer("clip_fgdi")), 1)
    warn_inert("clip_fgdi", recipe(tiny_peer("clip_fgdi")), 2)
    warn_inert("clip_reid", recipe(tiny_peer("clip_reid")), 1)  # nothing to be inert
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clip_fgdi.domain_unit is 'dataset' with one domain" in err and "inert" in err


def initial_model(data, method, section):
    torch.manual_seed(0)  # the run's seed: the same initial model
    return build_model(peer_config(tiny_model_params(), method, section, SOURCES, data))


def test_clip_reid_stage1_moves_only_the_identity_tokens(clip_reid):
    data, _, out, records = clip_reid
    initial = initial_model(data, "clip_reid", tiny_peer("clip_reid")).state_dict()
    trained = read_checkpoint(out / "model.pt")["state_dict"]
    assert trained.keys() == initial.keys() and not any(k.startswith("domain") for k in trained)
    for name, value in initial.items():
        assert torch.equal(value, trained[name]) != (name == "prompts.identity"), name
    assert torch.load(out / TEXT_MEMORY_FILE).shape == (data.num_classes, 16)
    assert not (out / RELEVANT_FILE).exists() and not (out / OPTIMIZER_FILE).exists()
    assert [r["epoch"] for r in records] == [0, 1] and "prompts/loss/supcon" in records[-1]


def test_clip_fgdi_stage1_adapts_the_image_side_then_learns_both_prompt_sets(clip_fgdi):
    data, _, out, records = clip_fgdi
    initial = initial_model(data, "clip_fgdi", tiny_peer("clip_fgdi", domain_unit="dataset")).state_dict()
    trained = read_checkpoint(out / "model.pt")["state_dict"]
    moved = {k for k, v in initial.items() if v.is_floating_point() and not torch.equal(v, trained[k])}
    assert {"prompts.identity", "prompts.domain", "image.encoder.visual.conv1.weight", "classifier.weight"} <= moved
    assert not any(k.startswith("text.") for k in moved)  # the text encoder is never trained
    assert any(k.startswith("domain_grl.") for k in moved) and any(k.startswith("domain_head.") for k in moved)
    assert [min(k for k in r if "/" in k and not k.startswith("time")).split("/")[0]
            for r in (records[0], records[1], records[3])] == [
        "prior", "prompts", "domain_prompts"]  # 1 + 2 + 2 epochs, one log
    relevant = torch.load(out / RELEVANT_FILE)
    assert relevant["index"].shape == (data.num_classes, 2)  # two source datasets
    assert int((relevant["index"] >= 0).sum()) == len(relevant["features"]) == data.num_classes  # each id, one source
    assert (out / OPTIMIZER_FILE).is_file()


@pytest.mark.parametrize("method", ["clip_reid", "clip_fgdi"])
def test_stage2_writes_an_image_checkpoint_whose_feature_is_before_the_bnnecks(root, clip_reid, clip_fgdi, method):
    data, train, out, _ = clip_reid if method == "clip_reid" else clip_fgdi
    section = tiny_peer(method, **({"domain_unit": "dataset"} if method == "clip_fgdi" else {}))
    records = run_peer_stage2(method, section, train, data, out, root / f"{method}.pt", root / f"{method}-s2state",
                              root / f"{method}-s2live", Dist())
    expected = {"id", "triplet", "i2tce"} | ({"apn"} if method == "clip_fgdi" else set())
    assert {k.split("/")[-1] for k in records[-1] if "/loss/" in k} == expected
    encoder = load_for_inference(root / f"{method}.pt")
    assert isinstance(encoder, PeerEncoder) and encoder.config.feature_dim == 32 + 16
    images = torch.randn(3, 3, *encoder.config.image_size)
    with torch.no_grad():
        tokens = encoder.tokens(images)
        assert torch.allclose(encoder(images), F.normalize(torch.cat([tokens.cls, tokens.proj], 1), dim=1), atol=1e-6)
    assert read_checkpoint(root / f"{method}.pt")["extra"]["method"] == method


def test_clip_fgdi_stage2_killed_then_resumed_ends_with_the_weights_of_an_uninterrupted_run(root, clip_fgdi):
    whole, killed = kill_then_resume("peer-clip_fgdi-stage2", root, timeout=120)
    a = read_checkpoint(whole / "model.pt")["state_dict"]
    b = read_checkpoint(killed / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((killed / "live" / "metrics.json").read_text())["step"] == 2  # 3 epochs, none repeated
