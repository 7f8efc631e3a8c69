"""DVC stage `sft`: MUSE's LoRA fine-tuning of the VLM on Yes/No → models/muse/ (the adapter).

Runs only when muse.enabled.
"""

from stages.common import main

if __name__ == "__main__":
    main("sft")
