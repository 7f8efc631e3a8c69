"""DVC stage `ingest`: params `data` → data/manifests/ (manifests, quarantine.csv, summary.json)."""

from pathlib import Path

from reid.config.checks import check_custom_folders
from reid.data.run import run_ingest
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    data = params.data
    check_custom_folders(data.custom, data.root, io.inputs["custom"])
    out = Path(io.outputs["manifests"])
    run_ingest(
        root=data.root,
        out_dir=out,
        summary_path=out / "summary.json",
        datasets=data.datasets,
        subset=data.cuhk03_subset,
        custom=data.custom,
        workers=data.workers,
    )


if __name__ == "__main__":
    run_stage("ingest", body)
