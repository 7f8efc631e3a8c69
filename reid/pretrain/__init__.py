"""The demo's vision-language prior (SPEC §8): contrastive image–caption training of a small CLIP.

The paper fine-tunes OpenAI CLIP; the demo cannot download it, so it learns a small one the
same way, from captioned synthetic people (`reid.synth.captioned`), and hands it to the
re-ID stages through `model.pretrained`, exactly where OpenAI weights enter.
"""
