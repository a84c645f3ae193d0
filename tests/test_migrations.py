"""The migrated schema is the schema the code declares (store/schema.py), on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reetrace.store import Store
from reetrace.store.migrate import current, newest
from reetrace.store.schema import (
    FORM_SEARCH_INDEXES,
    PRODUCT_SEARCH_INDEXES,
    SEARCH_INDEXES,
    metadata,
    views,
)


def _declared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The search indexes are expression indexes, one per backend, that Alembic cannot compare.
    expressions = {*SEARCH_INDEXES.values(), *FORM_SEARCH_INDEXES.values(), *PRODUCT_SEARCH_INDEXES.values()}
    return not (type_ == "index" and name in expressions)


def test_migrations_build_the_declared_schema(store: Store) -> None:
    assert current(store.engine) == newest()
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _declared})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], f"store/schema.py and the migrations disagree: {diff}"


def test_declared_views_are_the_migrated_views(store: Store) -> None:
    """The views are declared on their own MetaData (left out of the comparison above): same names,
    same columns in the same order, as the views the migrations create."""
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_view_names()) == set(views.tables)
        for name, view in views.tables.items():
            assert [c["name"] for c in inspector.get_columns(name)] == list(view.c.keys()), name
    assert not set(views.tables) & set(metadata.tables)


def test_migrating_twice_is_harmless(store: Store) -> None:
    store._migrated = False
    store.migrate()
    assert current(store.engine) == newest()
