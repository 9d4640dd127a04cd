"""Alembic environment: runs against the engine uketsuke hands it (see intake.db.upgrade)."""

from alembic import context
from sqlalchemy import create_engine

from intake.models import Base, in_models

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # run from the alembic command line: take the URL from alembic.ini or -x url=
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_engine(url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=in_models,
    )
    with context.begin_transaction():
        context.run_migrations()
