"""Subcommands of the `nbsmt` CLI, one module each (see nbsmt/cli.py)."""
