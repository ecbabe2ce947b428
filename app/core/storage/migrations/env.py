"""Alembic environment: runs on the connection handed over by `db.upgrade`."""

from alembic import context

from app.core.storage.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise SystemExit("alembic.ini names no sqlalchemy.url")
    connection = create_engine(url).connect()

# render_as_batch: SQLite alters tables by copy-and-rename; Alembic's batch mode does it.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
