"""Helpers for the evaluation tests: small random demo models, the evaluate stage's picture paths,
features whose distances are known exactly, and the chunked metrics held to the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reid.evaluation.metrics import evaluate_features, evaluate_reference, pairwise_distances
from reid.model.muva import ReidEncoder, build_reid_encoder
from tests.kit.params import muva


def demo_encoder(**fields) -> ReidEncoder:
    """The image side of a random demo model (3 layers, width 128), eval mode."""
    torch.manual_seed(0)
    return build_reid_encoder(muva(5, **{"backbone": "demo", "image_size": [256, 128], **fields})).eval()


def pictures(folder: Path) -> tuple[Path, Path, Path]:
    """run_evaluate's CMC folder, CMC picture and sheets folder under `folder`, named as the stage names them."""
    return folder / "cmc", folder / "cmc.png", folder / "sheets"


def on_circle(degrees: list[float]) -> np.ndarray:
    """Unit 2-D features at the given angles: distance grows with the angle between two of them."""
    rad = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def both(qf, gf, q_pids, g_pids, q_cams, g_cams, chunk_size=2, max_rank=10):
    """Chunked and reference results on the same distances; asserts they agree exactly."""
    got = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, chunk_size=chunk_size)
    ref = evaluate_reference(pairwise_distances(qf, gf, chunk_size), q_pids, g_pids, q_cams, g_cams, max_rank)
    assert_identical(got, ref)
    return got


def assert_identical(a, b) -> None:
    assert a.mAP == b.mAP
    np.testing.assert_array_equal(a.cmc, b.cmc)
    assert a.mINP == b.mINP
    np.testing.assert_array_equal(a.ap, b.ap)  # NaN (skipped) compares equal here
    np.testing.assert_array_equal(a.inp, b.inp)
    np.testing.assert_array_equal(a.first_hit, b.first_hit)
    assert (a.num_valid, a.num_skipped) == (b.num_valid, b.num_skipped)


def dyadic_features(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    """Unit rows with four ±1/2 entries: every dot product is exact, whatever the summation
    order, so distances do not depend on chunking, and there are many exact ties."""
    out = np.zeros((n, dim), dtype=np.float32)
    for row in out:
        row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return out
