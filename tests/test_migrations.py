"""The migrated schema is the schema the code declares (store/schema.py), on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reetrace.store import Store
from reetrace.store.migrate import current, newest
from reetrace.store.schema import metadata


def test_migrations_build_the_declared_schema(store: Store) -> None:
    assert current(store.engine) == newest()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"store/schema.py and the migrations disagree: {diff}"


def test_migrating_twice_is_harmless(store: Store) -> None:
    store._migrated = False
    store.migrate()
    assert current(store.engine) == newest()
