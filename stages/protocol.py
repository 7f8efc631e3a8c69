"""DVC stage `protocol`: params `protocol` + manifests → data/protocol/{train.parquet,protocol.json}.

It also holds `train.ids_per_batch` against the identities it assembles: the first stage that
can see a batch too large for the source says so, before grounding and pre-training run.
"""

from stages.common import main

if __name__ == "__main__":
    main("protocol")
