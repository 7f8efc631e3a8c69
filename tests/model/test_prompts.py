import open_clip
import pytest
import torch

from reid.model.backbone import create_clip
from reid.model.prompts import PromptLearner, prompt_templates
from reid.model.text_encoder import TextEncoder
from tests.model.helpers import demo_config, demo_model


def test_universal_templates():
    assert prompt_templates(demo_config()) == [
        [
            "A photo of a X X X X person.",
            "A photo of a X X X X head of a person.",
            "A photo of a X X X X upper body of a person.",
            "A photo of a X X X X legs of a person.",
        ]
    ]


def test_template_variants():
    assert prompt_templates(demo_config(parts=(), prompts={"n_tokens": 2})) == [["A photo of a X X person."]]
    assert prompt_templates(demo_config(parts=("legs",), prompts={"style": "part_agnostic"})) == [
        ["A photo of a X X X X person.", "A photo of a X X X X person."]
    ]
    domain = demo_config(
        parts=("head",),
        prompts={"style": "domain_specific", "domain_phrases": ["in the rain", "at night"]},
        class_domains=[0, 1, 1, 0, 0, 1],
    )
    assert prompt_templates(domain) == [
        ["A photo of a X X X X person, in the rain.", "A photo of a X X X X head of a person, in the rain."],
        ["A photo of a X X X X person, at night.", "A photo of a X X X X head of a person, at night."],
    ]


def test_learned_tokens_replace_exactly_the_placeholders():
    torch.manual_seed(0)
    config = demo_config()
    clip = create_clip(config)
    learner = PromptLearner(config, clip.token_embedding)
    embeddings, eot = learner(torch.tensor([4, 1]))
    texts = prompt_templates(config)[0]
    tokens = open_clip.tokenize(texts)[:, : embeddings.shape[2]]
    fixed = clip.token_embedding(tokens)  # [T, S, W]
    assert embeddings.shape == (2, 4, fixed.shape[1], 128)
    assert torch.equal(eot[0], open_clip.tokenize(texts).argmax(-1))
    placeholders = slice(5, 9)  # <sot> a photo of a X X X X ...
    for i, label in enumerate([4, 1]):
        assert torch.equal(embeddings[i][:, placeholders], learner.tokens[label])
        keep = torch.ones(fixed.shape[1], dtype=torch.bool)
        keep[placeholders] = False
        assert torch.equal(embeddings[i][:, keep], fixed[:, keep])


def test_text_encoder_on_cut_prompts_equals_open_clip_on_full_context():
    torch.manual_seed(0)
    clip = create_clip(demo_config()).eval()
    tokens = open_clip.tokenize(["A photo of a person.", "A photo of a tall legs of a person."])
    eot = tokens.argmax(-1)
    cut = int(eot.max()) + 1
    with torch.no_grad():
        ours = TextEncoder(clip)(clip.token_embedding(tokens[:, :cut]), eot)
        reference = clip.encode_text(tokens)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_gradient_reaches_only_the_encoded_identities(model):
    features = model.encode_text(torch.tensor([2, 2, 5]))
    assert features.shape == (3, 4 * 128)
    features.square().sum().backward()
    grad = model.prompts.tokens.grad
    touched = grad.flatten(1).abs().sum(1) > 0
    assert touched.tolist() == [False, False, True, False, False, True]


def test_identities_get_their_domains_phrase():
    model = demo_model(
        prompts={"style": "domain_specific", "domain_phrases": ["in the rain", "at night"]},
        class_domains=[0, 1, 1, 0, 0, 1],
    )
    with torch.no_grad():
        model.prompts.tokens.zero_()  # identical learned tokens: only the phrase differs
        features = model.encode_text(torch.arange(6))
    torch.testing.assert_close(features[0], features[3])
    torch.testing.assert_close(features[1], features[2])
    assert not torch.allclose(features[0], features[1])


def test_placeholder_word_in_a_phrase_is_rejected():
    config = demo_config(prompts={"style": "domain_specific", "domain_phrases": ["x marks the spot"]})
    with pytest.raises(ValueError, match="placeholder word"):
        PromptLearner(config, create_clip(config).token_embedding)
