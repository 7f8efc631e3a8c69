"""The paper's expert: CogVLM grounding-generalist through transformers' remote code.

One sequence per (image, part) with exactly the SPEC prompt; a batch of B images is one
`generate` call over 3·B sequences, left-padded (the remote code builds position ids from
token types *and* the attention mask, so left padding is exact), greedy decoding. The
three parts cannot share one sequence: the model grounds one referring expression per
query, and merging the prompts would change the paper's protocol.

transformers is imported only when the model is loaded (`load_cogvlm`), so CPU-only
installs never need it; tests drive `CogVLMExpert` with a fake model/tokenizer pair.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import torch
from PIL import Image

from reid.errors import ConfigError
from reid.grounding.answer_format import parse_answer
from reid.grounding.config import CogVLM
from reid.grounding.experts.base import GroundItem
from reid.grounding.parts import PARTS, PROMPTS, PartResult
from reid.utils.hashing import short_hash

LANGUAGE_TOKEN_TYPE = 0  # the remote code's token type of text (and of padding)


# What load_cogvlm and CogVLM's remote code import (pyproject's [cogvlm] extra; bitsandbytes for 4-bit only),
# and the first transformers release its remote code breaks on.
EXTRA_MODULES = ("transformers", "accelerate", "sentencepiece", "einops", "xformers")
TRANSFORMERS_TOO_NEW = (4, 42)


def check_cogvlm_extra(config: CogVLM) -> None:
    """A one-line ConfigError naming `grounding.expert` and the install when the [cogvlm] extra is not
    installed (a module missing, or a transformers its remote code cannot run on), before the model loads."""
    modules = (*EXTRA_MODULES, *(("bitsandbytes",) if config.load_in_4bit else ()))
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    problems = [f"{', '.join(missing)} not installed"] if missing else []
    if "transformers" not in missing:
        version = metadata.version("transformers")
        if tuple(int(n) for n in re.findall(r"\d+", version)[:2]) >= TRANSFORMERS_TOO_NEW:
            problems.append(f"transformers {version} is installed, its remote code needs < 4.42")
    if problems:
        raise ConfigError("grounding.expert", "cogvlm", f"needs the [cogvlm] extra ({'; '.join(problems)})",
                          fix="pip install -c constraints.txt -e '.[cogvlm]' in an environment of its own (the [dev] "
                          "and [mllm] extras need transformers >= 4.49; README: Two environments), or choose pose, "
                          "stripes or oracle")


def load_cogvlm(config: CogVLM, device: torch.device) -> tuple[Any, Any]:
    """Load (model, tokenizer) from the hub or a local folder; imports transformers here only."""
    check_cogvlm_extra(config)
    from transformers import AutoModelForCausalLM, LlamaTokenizer
    dtype = getattr(torch, config.dtype)
    kwargs: dict[str, Any] = {"torch_dtype": dtype, "low_cpu_mem_usage": True, "trust_remote_code": True,
                              "revision": config.revision}
    if config.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(config.model, **kwargs).eval()
    if not config.load_in_4bit:
        model = model.to(device)
    tokenizer = LlamaTokenizer.from_pretrained(config.tokenizer)
    return model, tokenizer


class CogVLMExpert:
    name = "cogvlm"
    needs_pixels = True

    def __init__(self, model: Any, tokenizer: Any, config: CogVLM, device: torch.device) -> None:
        self.model, self.tokenizer, self.config, self.device = model, tokenizer, config, device
        self.dtype = getattr(torch, config.dtype)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.version = f"{config.model}@{config.revision}+prompts={short_hash(PROMPTS, 8)}"

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "prompts": PROMPTS, "tokenizer": self.config.tokenizer,
                "dtype": self.config.dtype, "load_in_4bit": self.config.load_in_4bit,
                "max_new_tokens": self.config.max_new_tokens}

    def collate(self, items: Sequence[GroundItem]) -> dict[str, Any]:
        """Build one left-padded batch of len(items)·3 sequences, ordered image-major then part."""
        convs = []
        for item in items:
            image = Image.fromarray(item.rgb)
            for part in PARTS:
                convs.append(self.model.build_conversation_input_ids(
                    self.tokenizer, query=PROMPTS[part], history=[], images=[image], template_version="base"))
        length = max(len(c["input_ids"]) for c in convs)

        def left_pad(key: str, value: int) -> torch.Tensor:
            return torch.stack([
                torch.cat([torch.full((length - len(c[key]),), value, dtype=torch.long), c[key]]) for c in convs
            ]).to(self.device)

        return {
            "input_ids": left_pad("input_ids", self.pad_id),
            "token_type_ids": left_pad("token_type_ids", LANGUAGE_TOKEN_TYPE),
            "attention_mask": left_pad("attention_mask", 0),
            "images": [[c["images"][0].to(self.device, self.dtype)] for c in convs],
        }

    @torch.no_grad()
    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]:
        inputs = self.collate(items)
        out = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False)
        answers = self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        n = len(PARTS)
        return [
            {part: parse_answer(answers[i * n + j].strip()) for j, part in enumerate(PARTS)}
            for i in range(len(items))
        ]
