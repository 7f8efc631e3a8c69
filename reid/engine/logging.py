"""Per-epoch training logs through DVCLive (main rank only).

The log is rebuilt from the history kept in the training state each time a stage starts,
so a resumed run's curves have exactly one point per completed epoch, as if never stopped.
"""

from __future__ import annotations

from pathlib import Path

from dvclive import Live


def live_folder(metrics: Path, plots: Path) -> Path:
    """DVCLive's folder for a stage that declares its summary `metrics` and its curves `plots`.

    DVCLive names the files inside its folder itself; a wiring that declared other names
    would have DVC cache files that never appear.
    """
    folder = Path(metrics).parent
    if Path(metrics).name != "metrics.json" or Path(plots) != folder / "plots" / "metrics":
        raise ValueError(f"DVCLive writes <folder>/metrics.json and <folder>/plots/metrics, not {metrics} and {plots}")
    return folder


class EpochLog:
    """DVCLive writer: metrics.json (`dvc exp show`) and plots/metrics/*.tsv (`dvc plots show`)."""

    def __init__(self, directory: str | Path, history: list[dict[str, float]], enabled: bool = True) -> None:
        self.live = Live(str(directory), resume=False, dvcyaml=False, save_dvc_exp=False) if enabled else None
        for record in history:
            self.log(record)

    def log(self, record: dict[str, float]) -> None:
        """One epoch's values (the "epoch" key is the step)."""
        if self.live is None:
            return
        for name, value in record.items():
            if name != "epoch":
                self.live.log_metric(name, value)
        self.live.next_step()

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
