"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from adapter.store import get_engine, migrate
from adapter.store.search import SEARCH_OBJECTS


def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    migrate(database_url)  # idempotent: the fixture migrated already
    with get_engine(database_url).connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, *_: name not in SEARCH_OBJECTS,
            },
        )
        assert compare_metadata(context, SQLModel.metadata) == []
