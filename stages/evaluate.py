"""DVC stage `evaluate`: models/muva.pt + target manifests → metrics/evaluation.json, plots/evaluation/."""

from reid.evaluation.run import EvalConfig, run_evaluate
from stages.common import load_params


def main() -> None:
    run_evaluate(
        checkpoint="models/muva.pt",
        manifests_dir="data/manifests",
        protocol_json="data/protocol/protocol.json",
        metrics_path="metrics/evaluation.json",
        plots_dir="plots/evaluation",
        config=EvalConfig(**load_params()["evaluation"]),
    )


if __name__ == "__main__":
    main()
