"""The CogVLM expert's batched path, end to end, with a fake model (weights cannot be downloaded here)."""

import polars as pl
import torch

from reid.grounding.experts.cogvlm import CogVLMExpert
from reid.grounding.run import run_grounding
from tests.grounding.fake_cogvlm import FakeCogVLM, FakeTokenizer
from tests.grounding.helpers import grounding, make_dataset, write_manifest
from tests.kit.params import section


def test_fake_cogvlm_batched_end_to_end(tmp_path):
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 7, bad=(6,))])
    model = FakeCogVLM()
    expert = CogVLMExpert(model, FakeTokenizer(), section("grounding.cogvlm", dtype="float32"), torch.device("cpu"))
    summary = run_grounding(manifest, tmp_path / "store", tmp_path / "boxes.parquet", tmp_path / "sheet.png",
                            tmp_path / "summary.json", grounding(batch_size=3, max_error_fraction=1.0), expert=expert)
    boxes = pl.read_parquet(tmp_path / "boxes.parquet")
    assert boxes.height == 7 * 3
    # 7 images in batches of 3: the bad image (index 6) is refused before the model → 2 calls, 18 sequences
    assert (model.generate_calls, model.sequences) == (2, 18)

    def part(i: int, p: str) -> dict:
        return boxes.filter(pl.col("image_id").str.contains(f"/{i:04d}_") & (pl.col("part") == p)).row(0, named=True)

    assert part(0, "head")["boxes"] == [[0.1, 0.0, 0.88, 0.3]]
    assert part(0, "legs")["boxes"] == [[0.1, 0.02, 0.88, 0.3]]
    assert part(1, "upper")["boxes"] == [[0.1, 0.02, 0.88, 0.3], [0.12, 0.31, 0.87, 0.64]]
    assert part(2, "head")["status"] == "no_box" and part(2, "head")["raw"] == "Sorry, I cannot find it."
    assert part(3, "legs")["status"] == "parse_error" and part(3, "legs")["raw"] == "[[12,ab,]]"
    assert part(4, "upper")["boxes"] == [[0.1, 0.2, 1.0, 0.9]] and part(4, "upper")["status"] == "ok"
    assert part(5, "head")["boxes"] == [[0.1, 0.0, 0.88, 0.3]]
    assert part(6, "head")["status"] == "error" and "ImageError" in part(6, "head")["message"]
    assert summary["answers"]["ok"] == {"head": 4, "upper": 4, "legs": 4}
    assert summary["answers"]["failed"]["legs"] == 1 and summary["failed_images"] == 1
    assert boxes["version"].unique().to_list() == [expert.version]
    assert expert.version.startswith("THUDM/cogvlm-grounding-generalist-hf@main+prompts=")
