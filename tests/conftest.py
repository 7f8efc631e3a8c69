import os

os.environ.setdefault("REID_NO_PROGRESS", "1")
