import os

os.environ.setdefault("REID_NO_PROGRESS", "1")

from tests.kit.bench import bench  # noqa: E402, F401  (the fixture, for every folder)


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip, saying so, on a machine without CUDA (one marker: `pytest -m cuda` finds them)."""
    import pytest
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
