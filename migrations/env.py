"""Alembic environment: migrates the database of the current Flask app (Flask-Migrate)."""

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
config.set_main_option("sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%"))


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def skip_empty(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty)
    with db.engine.connect() as connection:
        conf_args.setdefault("compare_type", True)
        context.configure(connection=connection, target_metadata=db.metadata, **conf_args)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # App servers that start together run `flask db upgrade` at once: one migrates, the
                # others wait here (the lock ends with the transaction) and then find nothing to do.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(7312026)"))
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
