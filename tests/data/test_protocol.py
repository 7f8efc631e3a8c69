"""Protocol resolution and the assembled (offset) multi-source training manifest."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from reid.data.ingest import ingest_many
from reid.data.protocol import assemble_training, resolve_protocol
from reid.data.run import run_ingest, run_protocol
from reid.errors import ConfigError
from tests.kit import datasets as fx

ALL = ["MA", "D", "MS", "C3"]


def test_auto_targets_single_and_multi_source() -> None:
    assert resolve_protocol("MA", "auto", ALL).targets == ("D", "MS", "C3")
    multi = resolve_protocol("D+MS+C3", "auto", ALL)
    assert multi.sources == ("D", "MS", "C3") and multi.targets == ("MA",)
    assert multi.name == "D+MS+C3->MA"


def test_explicit_targets_and_source_domain_evaluation() -> None:
    assert resolve_protocol("MS", ["MA"], ALL).targets == ("MA",)
    assert resolve_protocol("MA", ["MA"], ALL).targets == ("MA",)


def test_protocol_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="protocol.source = 'MA\\+XX': XX is not among the ingested datasets; allowed: MA, D"):
        resolve_protocol("MA+XX", "auto", ALL)
    with pytest.raises(ConfigError, match="protocol.targets = \\['C3'\\]: C3 is not among"):
        resolve_protocol("MA", ["C3"], ["MA", "D"])
    with pytest.raises(ConfigError, match="protocol.targets = 'auto': leaves nothing to test"):
        resolve_protocol("MA+D", "auto", ["MA", "D"])
    with pytest.raises(ValueError, match="names a dataset twice"):
        resolve_protocol("MA+MA", "auto", ALL)


def test_multi_source_offsets_never_collide(tmp_path: Path) -> None:
    fx.make_all(tmp_path)
    manifests = {r.key: r.manifest for r in ingest_many(tmp_path)}
    train = assemble_training(manifests, ["D", "MS", "C3"])
    # D: 3 images, labels 0,0,1, cams 1,2,7 (8 cams in range 0..7 seen up to 7)
    # MS: labels 0,1,0 -> +2, cams 0,14,1 -> +8; C3: labels 0,0 -> +4, cams 0,1 -> +23
    assert train["dataset"].to_list() == ["D"] * 3 + ["MS"] * 3 + ["C3"] * 2
    assert train["domain"].to_list() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert train["label"].to_list() == [0, 0, 1, 2, 3, 2, 4, 4]
    assert train["camid"].to_list() == [1, 2, 7, 8, 22, 9, 23, 24]
    assert train["local_label"].to_list() == [0, 0, 1, 0, 1, 0, 0, 0]
    assert train["image_id"].n_unique() == train.height


def test_run_ingest_and_protocol_write_outputs(tmp_path: Path) -> None:
    fx.make_all(tmp_path / "root")
    with pytest.warns(UserWarning):  # fixture counts are far from the official ones
        summary = run_ingest(tmp_path / "root", tmp_path / "manifests", tmp_path / "metrics" / "ingest.json")
    assert json.loads((tmp_path / "metrics" / "ingest.json").read_text()) == summary
    assert summary["datasets"]["MA"]["quarantined"] == 2
    record = run_protocol(tmp_path / "manifests", "MA", "auto", tmp_path / "protocol")
    assert record["targets"] == ["D", "MS", "C3"]
    assert record["num_classes"] == 3 and record["num_cams"] == 6 and record["train_images"] == 5
    assert record["synthetic"] is False
    assert pl.read_parquet(tmp_path / "protocol" / "train.parquet").height == 5
