"""The demo's stand-in VLM: a small Qwen2-VL built from a config, with a tokenizer learnt on the captions.

There are no Qwen2-VL weights here, as there are no CLIP weights: the demo builds the same class
(`Qwen2VLForConditionalGeneration`), with Qwen's special tokens, processor and chat format, so
`from_pretrained`, the chat template, the processor call and the LoRA module names (q/k/v/o/gate/
up/down_proj, the vision tower's mlp.fc1/fc2) are those of `Qwen/Qwen2-VL-2B-Instruct` (PEERS.md §5.2).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from reid.vlm.config import PATCH_MERGE, VlmDemo
from reid.vlm.prompts import CHAT_TEMPLATE, END, PAD, SPECIAL_TOKENS, UNKNOWN

PATCH = 14  # Qwen2-VL's patch side; PATCH_MERGE = 2 × 2 patches per visual token


def demo_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer of every word in `texts` (lower-cased, punctuation split off) plus Qwen's
    special tokens: the captions' small vocabulary keeps the model small."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNKNOWN))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=[UNKNOWN, *SPECIAL_TOKENS]))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token=UNKNOWN, pad_token=PAD, eos_token=END,
                                   padding_side="right")


def demo_processor(texts: Iterable[str], image_size: tuple[int, int]) -> Qwen2VLProcessor:
    """Qwen2-VL's processor around the demo tokenizer; images of `image_size` pass at their size."""
    pixels = image_size[0] * image_size[1]
    images = Qwen2VLImageProcessor(min_pixels=min(pixels, PATCH_MERGE ** 2), max_pixels=pixels)
    return Qwen2VLProcessor(image_processor=images, tokenizer=demo_tokenizer(texts),
                            video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)


def demo_model(demo: VlmDemo, processor: Qwen2VLProcessor) -> Qwen2VLForConditionalGeneration:
    """A randomly initialised Qwen2-VL of `demo`'s shape over `processor`'s vocabulary."""
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids
    half = demo.hidden // demo.heads // 2  # M-RoPE splits a head's rotary half 2 : 3 : 3 (time, height, width)
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": demo.hidden, "num_hidden_layers": demo.layers,
                     "num_attention_heads": demo.heads, "num_key_value_heads": demo.kv_heads,
                     "intermediate_size": demo.intermediate, "max_position_embeddings": 2048,
                     "rope_scaling": {"type": "mrope", "mrope_section": [half // 4, 3 * half // 8, 3 * half // 8]},
                     "bos_token_id": ids(PAD), "eos_token_id": ids(END), "pad_token_id": ids(PAD)},
        vision_config={"depth": demo.vision_depth, "embed_dim": demo.vision_dim, "hidden_size": demo.hidden,
                       "num_heads": demo.vision_heads, "mlp_ratio": 2, "patch_size": PATCH, "spatial_merge_size": 2,
                       "in_channels": 3, "temporal_patch_size": 2},
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        bos_token_id=ids(PAD), eos_token_id=ids(END), pad_token_id=ids(PAD),
    )
    return Qwen2VLForConditionalGeneration(config)
