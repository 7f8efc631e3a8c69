"""DVC stage `ingest`: params `data` → data/manifests/ (manifests, quarantine.csv, summary.json)."""

from reid.data.run import run_ingest
from stages.common import load_params


def main() -> None:
    data = load_params()["data"]
    run_ingest(
        root=data["root"],
        out_dir="data/manifests",
        summary_path="data/manifests/summary.json",
        datasets=data["datasets"],
        subset=data["cuhk03_subset"],
        custom=data["custom"],
        workers=data["workers"],
    )


if __name__ == "__main__":
    main()
