"""DVC stage `semantic`: LVLM-ReID's semantic tokens of the training images → data/lvlm/train_tokens.pt.

Runs only when method is lvlm_reid; otherwise it marks its output skipped in a second.
"""

from stages.common import main

if __name__ == "__main__":
    main("semantic")
