"""DVC stage entry points: one thin module per stage of dvc.yaml, wired by reid/wiring.py (dvc.yaml is generated: python -m stages.wiring --write)."""
