"""LVLM-ReID (our reading, PEERS.md §4.3) on the tiny set and a tiny VLM: the SGI's shapes and what it
reads, the semantic stage's table, the warm-up that leaves the ViT alone, end to end, evaluation with the
VLM pass counted, and the paths that refuse it."""

import json

import polars as pl
import pytest
import torch

from reid.engine.distributed import Dist
from reid.errors import ArtifactError, InputError
from reid.evaluation.run import run_evaluate
from reid.inference import load_model
from reid.model.checkpoint import read_checkpoint
from reid.model.configs import MuvaConfig
from reid.model.factory import build_model
from reid.training.data import load_training_data
from reid.training.lvlm import MODEL_FILE, run_lvlm_stage1, run_lvlm_stage2
from reid.vlm.load import SKIPPED, load_vlm
from reid.vlm.semantic import TOKENS_FILE, SemanticReader, read_tokens, semantic_table
from reid.wiring import run_stage
from tests.evaluation.helpers import pictures
from tests.kit.clip import TINY_CLIP
from tests.kit.params import config, section, tiny_model_params, tiny_train_configs
from tests.muse.kit import tiny_vlm, tiny_vlm_section
from tests.training.helpers import write_training_set

INSTRUCTION = "Describe this pedestrian's appearance in one word:"


def tiny_lvlm(**fields):
    return section("lvlm_reid", **{"sgi_blocks": 1, "sgi_heads": 2, "sgi_warmup_epochs": 2,
                                   "image": {"epochs": 2, "milestones": [2], "lr": 1e-3, "warmup_epochs": 1},
                                   **fields})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The semantic stage on the tiny set, then both phases; returns what each wrote."""
    root = tmp_path_factory.mktemp("lvlm")
    train_path, _ = write_training_set(root)
    vlm_dir = tiny_vlm(root / "vlm")
    tree = config(**{"method": "lvlm_reid", "vlm.model": str(vlm_dir), "vlm.image_size": [56, 28],
                     "evaluation.batch_size": 8})
    run_stage("semantic", tree, {"train": train_path, "vlm": vlm_dir, "tokens": root / "lvlm",
                                 "metrics": root / "semantic.json"})
    data = load_training_data(train_path, None)
    train, _, _ = tiny_train_configs()
    section_ = tiny_lvlm()
    ctx = Dist()
    s1 = run_lvlm_stage1(section_, tiny_model_params(), train, data, ["MA"], root / "lvlm", root / "stage1",
                         root / "s1state", root / "s1live", ctx)
    s2 = run_lvlm_stage2(section_, train, data, root / "lvlm", root / "stage1", root / "lvlm_reid.pt", root / "s2state",
                         root / "s2live", ctx)
    return {"root": root, "data": data, "vlm": vlm_dir, "tree": tree, "s1": s1, "s2": s2, "train_path": train_path}


def test_the_sgi_reads_the_semantic_token_and_the_feature_is_the_refined_token():
    cfg = MuvaConfig.of_lvlm(tiny_model_params(), ["MA"], 5, semantic_dim=16, sgi_blocks=2, sgi_heads=2)
    assert (cfg.method, cfg.parts, cfg.feature_dim) == ("lvlm_reid", (), TINY_CLIP["embed_dim"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images, semantic = torch.randn(3, 3, *cfg.image_size), torch.randn(3, 16)
    out = model(images, semantic)
    assert out.features.shape == (3, TINY_CLIP["embed_dim"]) and out.logits.shape == (3, 5)
    other = model(images, semantic.flip(0))  # the token changes the feature, image by image
    assert not torch.allclose(out.features[0], other.features[0])
    assert torch.allclose(out.features[1], other.features[1], atol=1e-6)  # row 1 kept its own token
    with pytest.raises(ValueError, match="semantic token"):
        model.image.features(images)
    with pytest.raises(ValueError, match="sgi_heads 3 must divide"):
        MuvaConfig.of_lvlm(tiny_model_params(), ["MA"], 5, 16, 1, 3)


def test_the_semantic_stage_writes_one_token_per_training_image_as_evaluation_computes_it(trained):
    root, data = trained["root"], trained["data"]
    table = read_tokens(root / "lvlm", data.paths)
    bundle = load_vlm(trained["vlm"], "auto", "cpu")
    assert table["tokens"].shape == (32, bundle.model.config.get_text_config().hidden_size)
    assert table["vlm"] == bundle.digest and table["instruction"] == INSTRUCTION
    record = json.loads((root / "semantic.json").read_text())
    assert (record["skipped"], record["images"]) == (False, 32)
    # evaluation's pass on a batch of another size and order gives the same tokens
    again = semantic_table(bundle, data.paths[::-1][:5], INSTRUCTION, (56, 28), batch_size=3, workers=0)
    assert torch.allclose(again, table["tokens"].flip(0)[:5], atol=1e-5)
    with pytest.raises(ArtifactError, match="not the training manifest's 31"):
        read_tokens(root / "lvlm", data.paths[:-1])


def test_the_semantic_stage_of_another_method_marks_its_output(tmp_path):
    run_stage("semantic", config(method="muva"), {"tokens": tmp_path / "lvlm", "metrics": tmp_path / "s.json"})
    assert json.loads((tmp_path / "s.json").read_text())["skipped"] is True
    assert (tmp_path / "lvlm" / SKIPPED).is_file() and not (tmp_path / "lvlm" / TOKENS_FILE).exists()
    with pytest.raises(ArtifactError, match="stage semantic computes it"):
        read_tokens(tmp_path / "lvlm", [])


def test_the_warm_up_moves_the_sgi_and_heads_and_leaves_the_vit_as_built(trained):
    data = trained["data"]
    cfg = MuvaConfig.of_lvlm(tiny_model_params(), ["MA"], data.num_classes, 64, 1, 2)
    torch.manual_seed(0)  # the run's seed: the same initial model
    initial = build_model(cfg).state_dict()
    warmed = read_checkpoint(trained["root"] / "stage1" / MODEL_FILE)["state_dict"]
    assert warmed.keys() == initial.keys()
    moved = {k for k in initial if not torch.equal(initial[k], warmed[k])}
    assert not any(k.startswith("image.encoder.") for k in moved)
    assert any(k.startswith("image.sgi.") for k in moved) and "classifier.weight" in moved
    assert any(k.startswith("image.semantic_proj") for k in moved)
    assert [r["epoch"] for r in trained["s1"]] == [0, 1] and [r["epoch"] for r in trained["s2"]] == [0, 1]


def test_stage2_trains_the_vit_too_and_saves_the_image_side_with_its_vlm(trained):
    root = trained["root"]
    warmed = read_checkpoint(root / "stage1" / MODEL_FILE)["state_dict"]
    final = read_checkpoint(root / "lvlm_reid.pt")
    assert final["extra"]["vlm"] == load_vlm(trained["vlm"], "auto", "cpu").digest
    assert final["extra"]["instruction"] == INSTRUCTION
    vit = [k for k in final["state_dict"] if k.startswith("image.encoder.")]
    assert vit and any(not torch.equal(final["state_dict"][k], warmed[k]) for k in vit)
    assert not any(k.startswith("classifier") for k in final["state_dict"])


def test_stage2_refuses_a_warm_up_on_another_vlms_tokens(trained, tmp_path):
    root = trained["root"]
    other = tiny_vlm(tmp_path / "vlm", seed=1)
    tree = config(**{"method": "lvlm_reid", "vlm.model": str(other), "vlm.image_size": [56, 28]})
    run_stage("semantic", tree, {"train": trained["train_path"], "vlm": other, "tokens": tmp_path / "lvlm",
                                 "metrics": tmp_path / "semantic.json"})
    train, _, _ = tiny_train_configs()
    with pytest.raises(ArtifactError, match="another VLM's semantic tokens"):
        run_lvlm_stage2(tiny_lvlm(), train, trained["data"], tmp_path / "lvlm", root / "stage1", tmp_path / "m.pt",
                        tmp_path / "s", tmp_path / "l", Dist())


def test_evaluation_runs_the_vlm_per_test_image_and_records_its_cost(trained, bench, tmp_path):
    root = trained["root"]
    vlm = tiny_vlm_section(trained["vlm"])
    evaluation = section("evaluation", batch_size=8, max_rank=12, sheet_queries=0, mask_images=0, bootstrap_draws=20)
    with pytest.raises(ArtifactError, match="needs the VLM's semantic tokens"):
        run_evaluate(root / "lvlm_reid.pt", bench.manifests, bench.protocol, tmp_path / "m.json",
                     *pictures(tmp_path / "plots"), evaluation)
    out = run_evaluate(root / "lvlm_reid.pt", bench.manifests, bench.protocol, tmp_path / "metrics.json",
                       *pictures(tmp_path / "plots"), evaluation,
                       semantic=lambda checkpoint: SemanticReader.for_model(checkpoint, vlm, 8, 0))
    images = sum(pl.read_parquet(bench.manifests / f"{t}.parquet").filter(pl.col("split").is_in(["query", "gallery"]))
                 .height for t in ("C3", "MA"))
    assert out["method"] == "lvlm_reid" and out["semantic"]["images"] == images
    assert out["semantic"]["images_per_s"] > 0 and 0 <= out["average"]["mAP"] <= 100
    assert SemanticReader.for_model(bench.checkpoint, vlm, 8, 0) is None  # MUVA needs no VLM
    other = tiny_vlm_section(tiny_vlm(tmp_path / "other", seed=1))
    with pytest.raises(ArtifactError, match="semantic tokens of another VLM"):
        SemanticReader.for_model(root / "lvlm_reid.pt", other, 8, 0)


def test_the_api_refuses_an_lvlm_model_in_one_line(trained):
    with pytest.raises(InputError, match="needs a VLM pass per image"):
        load_model(trained["root"] / "lvlm_reid.pt", "cpu")
