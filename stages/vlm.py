"""DVC stage `vlm`: the demo's stand-in VLM (a small Qwen2-VL) → models/vlm/ in Hugging Face format (PEERS.md §5.2).

Trains only when vlm.model is models/vlm and muse.enabled or method lvlm_reid asks for a VLM;
otherwise it marks its outputs skipped in a second.
"""

from stages.common import main

if __name__ == "__main__":
    main("vlm")
