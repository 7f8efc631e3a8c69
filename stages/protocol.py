"""DVC stage `protocol`: params `protocol` + manifests → data/protocol/{train.parquet,protocol.json}."""

from reid.data.run import run_protocol
from stages.common import load_params


def main() -> None:
    protocol = load_params()["protocol"]
    run_protocol("data/manifests", protocol["source"], protocol["targets"], "data/protocol")


if __name__ == "__main__":
    main()
