"""DVC stage `synth`: generate the embedded synthetic benchmark (params.yaml → synth)."""

from __future__ import annotations

from pathlib import Path

from reid.synth import SynthConfig, generate_benchmark
from stages.common import load_params


def main() -> None:
    params = dict(load_params()["synth"])
    out = Path(params.pop("out"))
    counts = generate_benchmark(out, SynthConfig(**params))
    print(f"wrote synthetic {', '.join(counts)} to {out}")


if __name__ == "__main__":
    main()
