"""DVC stage `ingest`: params `data` → data/manifests/ + metrics/ingest.json."""

from reid.data.run import run_ingest
from stages.common import load_params


def main() -> None:
    data = load_params()["data"]
    run_ingest(
        root=data["root"],
        out_dir="data/manifests",
        summary_path="metrics/ingest.json",
        datasets=data["datasets"],
        subset=data["cuhk03_subset"],
        custom=data["custom"],
        workers=data["workers"],
    )


if __name__ == "__main__":
    main()
