"""The vision-language model of MUSE and LVLM-ReID: a Qwen2-VL in Hugging Face format (PEERS.md §5).

The demo has no MLLM weights, as it has no CLIP weights: a small Qwen2-VL built from a config,
its tokenizer learnt from the captions, is pre-trained here on the captioned synthetic people
(stage `vlm`) and enters where `Qwen/Qwen2-VL-2B-Instruct` enters on a GPU worker (`vlm.model`).
transformers is imported only inside the functions that need it (the `mllm` extra).
"""
