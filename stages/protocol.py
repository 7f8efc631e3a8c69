"""DVC stage `protocol`: params `protocol` + manifests → data/protocol/{train.parquet,protocol.json}.

It also holds `train.ids_per_batch` against the identities it assembles: the first stage that
can see a batch too large for the source says so, before grounding and pre-training run.
"""

from reid.config.checks import check_identities
from reid.data.run import run_protocol
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    protocol = params.protocol
    record = run_protocol(io.inputs["manifests"], protocol.source, protocol.targets, io.outputs["protocol"])
    check_identities(record["num_classes"], params.train.ids_per_batch)


if __name__ == "__main__":
    run_stage("protocol", body)
