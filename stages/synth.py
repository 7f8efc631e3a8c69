"""DVC stage `synth`: generate the embedded synthetic benchmark (params.yaml → synth)."""

from __future__ import annotations

from pathlib import Path

from reid.synth.generate import generate_benchmark
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    out = Path(params.synth.out)
    counts = generate_benchmark(out, params.synth)
    print(f"wrote synthetic {', '.join(counts)} to {out}")


if __name__ == "__main__":
    run_stage("synth", body)
