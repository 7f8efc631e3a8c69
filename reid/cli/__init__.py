"""`reid`: every pipeline stage as a subcommand (usable without DVC), and a trained model's
embed, search, evaluate and export. See `reid --help`."""

from reid.cli import model, stages
from reid.cli.common import app

stages.register(skip=("evaluate",))  # `reid evaluate` is the model's, with the stage as its default mode

__all__ = ["app", "model"]
