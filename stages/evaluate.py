"""DVC stage `evaluate`: models/muva.pt + target manifests → metrics/evaluation.json, plots/evaluation/."""

from stages.common import main

if __name__ == "__main__":
    main("evaluate")
