"""The VLM plumbing of MUSE and LVLM-ReID: build, save and load, the answer-only labels, μ, the prior's training."""

import json

import numpy as np
import polars as pl
import pytest
import torch

import reid.vlm.train as train_module
from reid.errors import ArtifactError, ConfigError
from reid.vlm.inputs import IGNORE, Collate, ImageTuples, Question, answer_ids, answer_logits, model_inputs, no_probability
from reid.vlm.load import SKIPPED, check_vlm_folder, load_vlm, require_mllm
from reid.vlm.prompts import CAPTION_INSTRUCTION, END, image_messages, pair_messages
from reid.vlm.run import train_vlm_prior, vlm_wanted
from tests.muse.kit import COLOURS, people, tiny_vlm, tiny_vlm_section

NAMES = ["red", "green", "blue", "yellow", "purple", "cyan"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    frame = people(root / "img", ids=6, per_id=4)
    return root, frame, tiny_vlm(root / "vlm")


def test_a_saved_vlm_loads_with_identical_answers(world):
    root, frame, folder = world
    bundle = load_vlm(folder, device="cpu")
    data = ImageTuples([[p, q] for p, q in zip(frame["path"][:3], frame["path"][3:6], strict=True)], (56, 28))
    batch = Collate(bundle.processor, Question(pair_messages(), train=False))([data[i] for i in range(3)])
    inputs = model_inputs(batch, bundle.device, bundle.dtype)
    with torch.no_grad():
        again = load_vlm(folder, device="cpu")
        assert torch.equal(answer_logits(bundle.model, inputs), answer_logits(again.model, inputs))
    assert bundle.digest == again.digest and len(bundle.digest) == 12
    # two images of 56 x 28 at 14-pixel patches merged 2 x 2: 2 visual tokens each, per pair
    assert (batch["input_ids"] == bundle.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum() == 3 * 2 * 2


def test_labels_keep_only_the_answer_and_its_end(world):
    root, frame, folder = world
    processor = load_vlm(folder, device="cpu").processor
    collate = Collate(processor, Question(pair_messages(), train=True))
    data = ImageTuples([[frame["path"][0], frame["path"][1]], [frame["path"][0], frame["path"][5]]], (56, 28),
                       ["Yes", "No"])
    batch = collate([data[0], data[1]])
    kept = [processor.tokenizer.convert_ids_to_tokens(row[row != IGNORE].tolist()) for row in batch["labels"]]
    assert kept == [["yes", END], ["no", END]]  # the demo tokenizer lower-cases


def test_mu_is_p_no_from_the_answer_logits():
    logits = torch.full((2, 10), -5.0)
    logits[0, 3], logits[0, 7] = 2.0, 0.0  # No = 3, Yes = 7
    logits[1, 3], logits[1, 7] = 0.0, 0.0
    mu = no_probability(logits, (3, 7), tau=1.0)
    assert mu[0].item() == pytest.approx(1 / (1 + np.exp(-2.0))) and mu[1].item() == pytest.approx(0.5)
    assert no_probability(logits, (3, 7), tau=2.0)[0].item() == pytest.approx(1 / (1 + np.exp(-1.0)))


def test_answer_ids_are_the_first_tokens_of_no_and_yes(world):
    processor = load_vlm(world[2], device="cpu").processor
    no, yes = answer_ids(processor.tokenizer)
    assert processor.tokenizer.convert_ids_to_tokens([no, yes]) == ["no", "yes"]


def test_a_missing_or_skipped_model_folder_is_one_line(tmp_path):
    with pytest.raises(ArtifactError, match="not a Hugging Face model folder"):
        check_vlm_folder(tmp_path / "nowhere")
    (tmp_path / SKIPPED).write_text("{}")
    with pytest.raises(ArtifactError, match="stage was skipped"):
        check_vlm_folder(tmp_path)


def test_an_old_transformers_is_refused_with_the_extra_to_install(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "4.41.2")  # what the [cogvlm] extra pins
    with pytest.raises(ConfigError, match=r"transformers >= 4.49.*cogvlm.*pip install -e '\.\[mllm\]'"):
        require_mllm("muse.enabled")


def test_the_stage_trains_only_when_asked(tmp_path):
    vlm = tiny_vlm_section("models/vlm")
    assert vlm_wanted(vlm, "models/vlm", muse_enabled=True, method="muva")
    assert vlm_wanted(vlm, "models/vlm", muse_enabled=False, method="lvlm_reid")
    assert not vlm_wanted(vlm, "models/vlm", muse_enabled=False, method="muva")
    assert not vlm_wanted(tiny_vlm_section("models/Qwen2-VL-2B-Instruct"), "models/vlm", True, "muva")


def captions(frame: pl.DataFrame) -> pl.DataFrame:
    """A caption per image from its colours; identity 5 held out."""
    words = [f"a person in a {NAMES[label]} shirt and {'white' if label % 2 else 'black'} trousers ."
             for label in frame["label"]]
    return frame.with_columns(pl.Series("caption", words), pl.col("label").alias("identity"),
                              pl.when(pl.col("label") == 5).then(pl.lit("test")).otherwise(pl.lit("train")).alias("split"))


def test_the_prior_learns_to_caption_and_resumes_to_the_same_weights(world, tmp_path, monkeypatch):
    root, frame, _ = world
    assert len(COLOURS) == len(NAMES)
    pool = captions(frame)
    vlm = tiny_vlm_section(tmp_path / "whole", epochs=3, batch_size=4, lr=3e-3, min_lr=1e-4, warmup_epochs=0.5)
    whole = train_vlm_prior(pool, vlm, (), tmp_path / "whole", tmp_path / "ws", tmp_path / "wl")
    history = torch.load(tmp_path / "ws" / "last.pt", weights_only=False)["history"]
    losses = [h["loss/answer"] for h in history]
    assert losses[-1] < losses[0] - 0.5, losses
    assert 0 < whole["held_out/token_accuracy"] <= 1 and whole["captions"] == {"train": 20, "test": 4}
    assert json.loads((tmp_path / "whole" / "config.json").read_text())["architectures"] == \
        ["Qwen2VLForConditionalGeneration"]

    calls = {"n": 0}
    end_epoch = train_module.AnswerTask.end_epoch

    def killed_in_the_second_epoch(self, epoch, sums):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return end_epoch(self, epoch, sums)

    monkeypatch.setattr(train_module.AnswerTask, "end_epoch", killed_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_vlm_prior(pool, vlm, (), tmp_path / "killed", tmp_path / "ks", tmp_path / "kl")
    monkeypatch.undo()
    train_vlm_prior(pool, vlm, (), tmp_path / "killed", tmp_path / "ks", tmp_path / "kl")
    a, b = load_vlm(tmp_path / "whole", device="cpu").model, load_vlm(tmp_path / "killed", device="cpu").model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_caption_batches_ask_the_caption_instruction(world):
    processor = load_vlm(world[2], device="cpu").processor
    text = Collate(processor, Question(image_messages(CAPTION_INSTRUCTION), train=False)).prompt
    assert text.startswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>") and \
        text.endswith("<|im_start|>assistant\n") and CAPTION_INSTRUCTION in text
