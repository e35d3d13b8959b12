"""``observatoire postgres init``: the PostgreSQL publish target's read-only role and stable schema.

Registered in ``observatoire/cli.py`` with ``main.add_command(postgres)``.
"""

from __future__ import annotations

import sys

import click


@click.group("postgres")
def postgres() -> None:
    """The optional PostgreSQL publish target (OBSERVATOIRE_PG_DSN, a libpq connection string)."""


@postgres.command("init")
@click.option("--dsn", metavar="DSN", help="A libpq connection string (default: $OBSERVATOIRE_PG_DSN).")
def init(dsn: str | None) -> None:
    """Create the read-only role observatoire_lecture (NOLOGIN) and the schema observatoire, grant USAGE and
    SELECT on that schema only (and on the views later publications create there). Idempotent; may run before
    or after a publication. Grant the role to each analyst: CREATE ROLE alice LOGIN IN ROLE
    observatoire_lecture (or GRANT observatoire_lecture TO alice). Run it as the pipeline's role (it owns the
    views) or a superuser. Exit status: 0 done, 1 PostgreSQL refused, 2 no DSN.
    """
    from observatoire import postgres as pg
    from observatoire.cli_common import settings as _settings

    _settings()  # the environment checked like every command's
    dsn = dsn or pg.pg_dsn()
    if not dsn:
        click.echo("Error: set OBSERVATOIRE_PG_DSN (a libpq connection string) or pass --dsn", err=True)
        sys.exit(2)
    try:
        done = pg.init(dsn)
    except Exception as err:  # noqa: BLE001 - psycopg's errors: one line, no traceback
        click.echo(f"POSTGRES INIT FAILED ({pg.describe_dsn(dsn)}): {str(err).strip()}", err=True)
        sys.exit(1)
    for line in done:
        click.echo(line)
