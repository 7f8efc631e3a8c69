"""The demo's vision-language prior (SPEC §8): contrastive image–caption training of a small CLIP.

The paper fine-tunes OpenAI CLIP; the demo cannot download it, so it learns a small one the
same way, from captioned synthetic people (`reid.synth.captioned`), and hands it to the
re-ID stages through `model.pretrained`, exactly where OpenAI weights enter.
"""

from reid.pretrain.config import PretrainConfig
from reid.pretrain.train import run_pretrain, save_open_clip
from reid.pretrain.zero_shot import RetrievalResult, text_to_image_retrieval

__all__ = ["PretrainConfig", "RetrievalResult", "run_pretrain", "save_open_clip", "text_to_image_retrieval"]
