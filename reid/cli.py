"""`reid`: one subcommand per pipeline stage, usable without DVC (explicit options).

The DVC stages in `stages/` read params.yaml and call the same library functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reid.data.run import run_ingest, run_protocol

app = typer.Typer(help="MUVA domain-generalised person re-identification pipeline.", no_args_is_help=True)


def _parse_mapping(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"'{item}': expected KEY=FOLDER")
        key, value = item.split("=", 1)
        out[key] = value
    return out


@app.command()
def ingest(
    root: Annotated[Path, typer.Option(help="Folder holding the datasets (data.root).")],
    out: Annotated[Path, typer.Option(help="Folder for <KEY>.parquet manifests and quarantine.csv.")] = Path("data/manifests"),
    summary: Annotated[Path, typer.Option(help="Summary JSON path.")] = Path("data/manifests/summary.json"),
    dataset: Annotated[Optional[list[str]], typer.Option(help="Dataset key (repeatable); default: every one found.")] = None,
    cuhk03: Annotated[str, typer.Option(help="CUHK03-NP subset: detected or labeled.")] = "detected",
    custom: Annotated[Optional[list[str]], typer.Option(help="Custom dataset KEY=FOLDER (repeatable).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes probing images (default: all cores).")] = None,
) -> None:
    """Scan datasets, probe images, write manifests and the count summary."""
    run_ingest(root, out, summary, dataset or "auto", cuhk03, _parse_mapping(custom or []), workers)


@app.command()
def protocol(
    source: Annotated[str, typer.Option(help="Source key or '+'-joined set, e.g. MA or D+MS+C3.")],
    target: Annotated[Optional[list[str]], typer.Option(help="Target key (repeatable); default: auto.")] = None,
    manifests: Annotated[Path, typer.Option(help="Folder of ingested manifests.")] = Path("data/manifests"),
    out: Annotated[Path, typer.Option(help="Folder for train.parquet and protocol.json.")] = Path("data/protocol"),
) -> None:
    """Resolve source/targets and assemble the (offset) training manifest."""
    record = run_protocol(manifests, source, target or "auto", out)
    typer.echo(f"{record['name']}: {record['num_classes']} identities, {record['train_images']} training images")
