"""The demo's ablation sweep (paper Tables 5, 6, 8 and "w/o calibration"), queued as DVC experiments.

    python tests/benchmarks/ablations.py queue [--seeds 0 1 2] [--rows full global_only ...]
    dvc queue start -j 1                      # runs them one at a time (dvc queue status / logs)
    python tests/benchmarks/ablations.py table [--markdown]

`queue` adds one `dvc exp run --queue` per (row, seed), named `abl-<row>-s<seed>`, each row's
parameters set with `-S` on top of params.yaml (`train.seed` is the seed). Only the stages a
row changes re-run: the pre-trained prior is restored from DVC's run cache. `table` reads
`dvc exp show --json` and prints, per row, the mean ± standard deviation over seeds of the
average target mAP / Rank-1 (and each target's mAP), the mean 95 % bootstrap half-width of a
single run, and the paper's direction for that ablation. A difference between rows smaller
than the spread over seeds or the interval is not a result.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep import Row, main  # noqa: E402

ROWS = (
    Row("full", (), "MUVA, G+H+U+L: 27.6 / 59.5"),
    Row("global_only", ("model.parts=[]",), "lower: 26.0 / 51.9 (Table 5, G)"),
    Row("parts_h", ("model.parts=[head]",), "G+H: lower than full (Table 5)"),
    Row("parts_u", ("model.parts=[upper]",), "G+U: lower than full (Table 5)"),
    Row("parts_l", ("model.parts=[legs]",), "G+L: lower: 27.3 / 56.7, best single part (Table 5)"),
    Row("parts_hu", ("model.parts=[head,upper]",), "G+H+U: lower than full (Table 5)"),
    Row("parts_hl", ("model.parts=[head,legs]",), "G+H+L: lower than full (Table 5)"),
    Row("parts_ul", ("model.parts=[upper,legs]",), "G+U+L: lower than full, up to 57.1 on MS→MA (Table 5)"),
    Row("stripes", ("model.part_attention=stripes",), "lower: 25.8 / 55.5 (Table 8)"),
    Row("no_calibration", ("calibration.enabled=false",), "lower: 27.3 / 57.7"),
    Row("stripe_masks", ("masks.mode=stripes",), "lower (equal-thirds pseudo-labels)"),
    Row("vision_only", ("train.vision_only=true",), "lower: 26.7 / 56.8 (Table 6)"),
    Row("no_pretraining", ("model.pretrained=null",), "not in the paper (always CLIP); expected far lower"),
)


if __name__ == "__main__":
    main("abl", ROWS, __doc__)
