"""What every command group of the CLI shares (``cli``, ``cli_snapshot``, ``cli_site``, ``cli_postgres``…): the
settings read once from the environment, a bad value turned into click's usage error (exit 2, one line). Its own
module so that the sub-command groups never import ``observatoire.cli``, which registers them."""

from __future__ import annotations

import click

from observatoire.config import ConfigError, load_settings


def settings():
    try:
        return load_settings()
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
