"""DVC stage `pairs`: MUSE's hard query-candidate pairs from the trained encoder → data/muse/pairs.parquet.

Runs only when muse.enabled.
"""

from stages.common import main

if __name__ == "__main__":
    main("pairs")
