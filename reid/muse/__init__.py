"""MUSE (PEERS.md §3, code RikoLi/MUSE): a fine-tuned vision-language model's μ-distance fused into re-ranking.

Hard query–candidate pairs mined from the trained encoder's source features (`pairs`), LoRA
fine-tuning of the VLM on "same person? Yes/No" (`sft`), μ = p("No") for every target query's
top-k gallery candidates (`mu`), and the fused distance in simple or k-reciprocal re-ranking
(`fusion`). Model-agnostic: it runs on top of every `method`.
"""
