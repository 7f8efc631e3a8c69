"""DVC stage `calibrate`: grounding boxes + training manifest → data/masks/ (masks, boxes, report)."""

from stages.common import main

if __name__ == "__main__":
    main("calibrate")
