"""`reid`: every pipeline stage as a subcommand (usable without DVC), and a trained model's
embed, search, evaluate and export. See `reid --help`."""

from reid.cli import model, pipeline  # noqa: F401  (importing them registers their subcommands)
from reid.cli.common import app

__all__ = ["app"]
