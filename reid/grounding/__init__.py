"""Visual grounding (SPEC §3, paper §3.2.3): experts turn training images into part boxes.

Experts (`experts/`) answer one question per part; `answer_format` reads CogVLM's box
syntax; `store` keeps every answer in an append-only parquet store; `run` drives a
resumable, sharded pass over the training manifest; `contact_sheet` draws the boxes.
"""
