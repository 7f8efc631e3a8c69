"""The `bench` fixture: a tiny synthetic benchmark (MA and C3 look-alikes, ingested, protocol
MA -> C3, MA) and the checkpoint of a random demo model, built once per session for the
evaluation, inference and CLI tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from reid.data.run import run_ingest, run_protocol
from reid.model.checkpoint import save_checkpoint
from reid.model.muva import build_muva
from reid.synth.generate import generate_benchmark
from tests.kit.params import muva, section

TINY = section("synth", seed=3, train_ids=4, test_ids=4, images_per_id=2, queries_per_id=[1, 1], gallery_per_id=[2, 3],
               distractors=2, junk=1)
DOMAINS = ("MA", "C3")


@dataclass(frozen=True)
class Bench:
    root: Path
    manifests: Path
    protocol: Path
    checkpoint: Path  # full MUVA (AM-MSA, three parts)


@pytest.fixture(scope="session")
def bench(tmp_path_factory) -> Bench:
    root = tmp_path_factory.mktemp("eval_bench")
    generate_benchmark(root / "demo", TINY, DOMAINS, workers=1)
    run_ingest(root / "demo", root / "manifests", root / "manifests" / "summary.json", workers=1)
    run_protocol(root / "manifests", "MA", ["C3", "MA"], root / "protocol")
    torch.manual_seed(0)
    model = build_muva(muva(5, backbone="demo", image_size=[256, 128]))
    save_checkpoint(model.image, root / "muva.pt")
    return Bench(root, root / "manifests", root / "protocol" / "protocol.json", root / "muva.pt")
