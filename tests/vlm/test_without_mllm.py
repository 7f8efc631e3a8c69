"""The default pipeline needs no [mllm] extra (the README's first command installs without it): with
transformers, tokenizers, peft and accelerate unimportable, every stage's library function imports and
the MLLM stages, switched off, still mark their outputs."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MLLM = ("transformers", "tokenizers", "peft", "accelerate")

SCRIPT = """
import json, sys
from pathlib import Path
for name in {mllm!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as where the extra is not installed
from reid.wiring import STAGES, run_stage
from tests.kit.params import config
for stage in STAGES.values():
    stage.function()
tmp = Path(sys.argv[1])
outputs = {{"model": tmp / "m", "live": tmp / "l", "state": tmp / "s", "pairs": tmp / "p.parquet",
           "adapter": tmp / "a", "plots": tmp / "plots", "store": tmp / "mu", "tokens": tmp / "t"}}
records = {{}}
for name in ("vlm", "semantic", "pairs", "sft", "mu"):
    metrics = tmp / "metrics" / f"{{name}}.json"
    run_stage(name, config(**{{"vlm.model": str(outputs["model"])}}), {{**outputs, "metrics": metrics}})
    records[name] = json.loads(metrics.read_text())["skipped"]
print(json.dumps(records))
"""


def test_the_default_pipeline_runs_without_the_mllm_extra(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(mllm=MLLM), str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {s: True for s in ("vlm", "semantic", "pairs", "sft", "mu")}
