"""Learnable multi-grained prompts (paper §3.1.1): one set of N tokens per identity and granularity.

Templates, one per granularity (global first, then the configured parts), with N
placeholders X that are replaced by the identity's learned tokens:

    universal:        "A photo of a X X X X person."          (global)
                      "A photo of a X X X X head of a person." / "upper body of a person" / "legs of a person"
    part_agnostic:    "A photo of a X X X X person." for every granularity: the part words are
                      dropped (Table 7 "PAP") but each granularity keeps its own learned tokens,
                      so the text feature stays (1+P) x embed_dim and aligns with the image feature.
    domain_specific:  the universal templates with ", <phrase of the identity's domain>." appended
                      (Table 7 "DSP"); `config.class_domains` maps identities to phrases.

The fixed words are embedded once, at construction, with CLIP's token embedding (which is
read, never trained), and kept as buffers: the model needs no token-embedding table
afterwards, and checkpoints carry the embedded templates.  Templates are cut after their
end-of-text token: CLIP's text transformer is causal, so the EOT output never depends on
the padding that follows it, and encoding ~17 positions instead of 77 changes nothing but speed.
"""

from __future__ import annotations

from typing import NamedTuple

import open_clip
import torch
from torch import nn

from reid.model.configs import MuvaConfig

PROMPT_PREFIX = "A photo of a"
PLACEHOLDER = "X"
SUBJECTS = {
    "global": "person",
    "head": "head of a person",
    "upper": "upper body of a person",
    "legs": "legs of a person",
}


def prompt_templates(config: MuvaConfig) -> list[list[str]]:
    """Template texts [domains][granularities], with `n_tokens` placeholders each."""
    prompts = config.prompts
    placeholders = " ".join([PLACEHOLDER] * prompts.n_tokens)
    granularities = ("global", *config.parts)
    subjects = [SUBJECTS["global" if prompts.style == "part_agnostic" else g] for g in granularities]
    bodies = [f"{PROMPT_PREFIX} {placeholders} {subject}" for subject in subjects]
    if prompts.style == "domain_specific":
        return [[f"{body}, {phrase}." for body in bodies] for phrase in prompts.domain_phrases]
    return [[f"{body}." for body in bodies]]


class PromptBatch(NamedTuple):
    embeddings: torch.Tensor  # [n, T, S, W]: T templates of S token embeddings of width W
    eot: torch.Tensor  # [n, T]: position of the end-of-text token in each template


class EmbeddedTemplates(NamedTuple):
    embeddings: torch.Tensor  # [n, S, W]: the templates' token embeddings, cut after the longest EOT
    placeholders: torch.Tensor  # [n, k]: positions of the k placeholders of each template, in order
    eot: torch.Tensor  # [n]: position of each template's end-of-text token


def embed_templates(texts: list[str], token_embedding: nn.Embedding, context_length: int,
                    n_placeholders: int) -> EmbeddedTemplates:
    """Tokenise and embed fixed templates once, each with `n_placeholders` placeholder words X."""
    tokens = open_clip.tokenize(texts, context_length=context_length)
    placeholder_id = open_clip.tokenize(PLACEHOLDER)[0, 1]
    is_placeholder = tokens == placeholder_id
    if (is_placeholder.sum(dim=1) != n_placeholders).any():
        raise ValueError(f"a prompt contains the placeholder word '{PLACEHOLDER}' beyond its {n_placeholders}: {texts}")
    if (tokens[:, -1] != 0).any():
        raise ValueError(f"a prompt template is longer than the context length {context_length}: {texts}")
    eot = tokens.argmax(dim=-1)  # the EOT id is the largest in CLIP's vocabulary
    length = int(eot.max()) + 1
    with torch.no_grad():
        embedded = token_embedding(tokens[:, :length]).detach().clone()
    positions = is_placeholder.nonzero()[:, 1].view(len(texts), n_placeholders)
    return EmbeddedTemplates(embedded, positions, eot)


class PromptLearner(nn.Module):
    """Per-identity learnable tokens [C, T, N, W] inserted into the embedded templates."""

    def __init__(self, config: MuvaConfig, token_embedding: nn.Embedding) -> None:
        super().__init__()
        texts = prompt_templates(config)
        n_domains, n_templates, n_tokens = len(texts), len(texts[0]), config.prompts.n_tokens
        context_length = config.clip["text_cfg"]["context_length"]
        embedded, positions, eot = embed_templates([t for domain in texts for t in domain], token_embedding,
                                                   context_length, n_tokens)
        length, width = embedded.shape[1:]
        self.register_buffer("template_embeddings", embedded.view(n_domains, n_templates, length, width))
        self.register_buffer("placeholder_positions", positions.view(n_domains, n_templates, n_tokens))
        self.register_buffer("eot_positions", eot.view(n_domains, n_templates))
        domains = config.class_domains if config.prompts.style == "domain_specific" else None
        class_domains = torch.tensor(domains) if domains else torch.zeros(config.num_classes, dtype=torch.long)
        self.register_buffer("class_domains", class_domains.long())
        self.tokens = nn.Parameter(torch.empty(config.num_classes, n_templates, n_tokens, width))
        nn.init.normal_(self.tokens, std=config.prompt_init_std)

    def forward(self, labels: torch.Tensor) -> PromptBatch:
        """labels [n] → the identities' prompts, learned tokens in place of the placeholders."""
        domains = self.class_domains[labels]
        base = self.template_embeddings[domains]  # [n, T, S, W]
        learned = self.tokens[labels].to(base.dtype)  # [n, T, N, W]
        index = self.placeholder_positions[domains][..., None].expand_as(learned)
        return PromptBatch(base.scatter(2, index, learned), self.eot_positions[domains])
