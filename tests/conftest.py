import os

os.environ.setdefault("REID_NO_PROGRESS", "1")

from tests.kit.bench import bench  # noqa: E402, F401  (the fixture, for every folder)
