"""The `reid` CLI runs each stage with explicit options, outside DVC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reid.cli import app
from tests import fixtures_datasets as fx


@pytest.mark.filterwarnings("ignore::reid.data.summary.CountMismatchWarning")
def test_ingest_and_protocol_commands(tmp_path: Path) -> None:
    fx.make_all(tmp_path / "root")
    runner = CliRunner()
    out = tmp_path / "manifests"
    result = runner.invoke(
        app, ["ingest", "--root", str(tmp_path / "root"), "--out", str(out), "--summary", str(tmp_path / "s.json"),
              "--dataset", "MA", "--dataset", "C3", "--cuhk03", "labeled"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.parquet")) == ["C3.parquet", "MA.parquet"]
    assert json.loads((tmp_path / "s.json").read_text())["datasets"]["C3"]["layout"] == "labeled"
    result = runner.invoke(app, ["protocol", "--source", "C3", "--manifests", str(out), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "C3->MA: 2 identities, 3 training images" in result.output


def test_custom_option_must_be_key_equals_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--root", str(tmp_path), "--custom", "nofolder"])
    assert result.exit_code != 0
    assert "expected KEY=FOLDER" in result.output
