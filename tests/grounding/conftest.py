"""Fixtures shared by the grounding tests."""

import polars as pl
import pytest

from tests.grounding.helpers import CountingExpert, run, two_datasets


@pytest.fixture()
def reference(tmp_path_factory):
    """boxes.parquet of an uninterrupted single-process run over 13 images in two datasets."""
    root = tmp_path_factory.mktemp("ref")
    manifest = two_datasets(root)
    run(manifest, root, CountingExpert())
    return pl.read_parquet(root / "boxes.parquet")
