"""DVC stage entry points: one thin module per stage of dvc.yaml, wired by stages/wiring.py."""
