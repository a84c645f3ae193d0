"""The few pieces of SQL that differ between SQLite and PostgreSQL, behind one interface.

Everything outside ``store/`` writes its SQL once and asks the backend's :class:`Dialect` for the parts
that cannot be spelled the same way on both: membership in a list bound as one parameter, reading a
field out of a log frame's JSON, planner and session settings. ``dialect_of(conn)`` gives the dialect of
any connection, so code that is handed a connection (a trace, ``findings_for``) needs no store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection


class Dialect:
    """SQL spelled for one database. Subclasses: :class:`reetrace.store.sqlite.SqliteDialect`,
    :class:`reetrace.store.postgres.PostgresDialect`."""

    #: The database's name, for people (``reetrace init`` prints it).
    name = ""
    #: Whether a submission may parse in a forked process while rows stream in from a thread.
    parallel_ingest = False

    # -- lists bound as one parameter ---------------------------------------------------------------

    def array(self, values: Iterable[Any]) -> Any:
        """A bind value holding a list, for :meth:`member` and :meth:`values`."""
        raise NotImplementedError

    def member(self, col: str, param: str, kind: str = "text") -> str:
        """SQL that is true when ``col`` is an element of the list bound to ``param``."""
        raise NotImplementedError

    def values(self, param: str) -> str:
        """A FROM item with one column ``value``: the elements of the list bound to ``param``."""
        raise NotImplementedError

    def pair_member(self, col_a: str, col_b: str, param: str) -> str:
        """SQL that is true when ``(col_a, col_b)`` is one of the integer pairs bound to ``param`` as
        :func:`pairs` (one parameter, one round trip, answered with the primary key index)."""
        raise NotImplementedError

    # -- JSON inside log frames -------------------------------------------------------------------

    def frame_text(self, body: str, *path: str) -> str:
        """The JSON value at ``path`` inside the frame in column ``body``, as canonical JSON text."""
        raise NotImplementedError

    def frame_object(self, body: str, *path: str) -> str:
        """The JSON object at ``path`` inside the frame in column ``body``, for :meth:`each_text`."""
        raise NotImplementedError

    def each_text(self, expr: str, alias: str) -> str:
        """A FROM item over the members of a JSON object: columns ``key`` and ``value`` (text)."""
        raise NotImplementedError

    # -- search ------------------------------------------------------------------------------------

    def prefix_match(self, col: str, param: str) -> str:
        """SQL true when text column ``col`` starts with the prefix bound by :meth:`prefix_params`,
        ignoring ASCII case, answered from the ``0004`` search index."""
        raise NotImplementedError

    def prefix_params(self, param: str, prefix: str) -> dict[str, str]:
        """The bind values of :meth:`prefix_match` for ``prefix``."""
        raise NotImplementedError

    def prefix_order(self, col: str) -> str:
        """An ORDER BY key on text column ``col``, ignoring ASCII case, in the order of the ``0004``
        search index: ``WHERE prefix_match ORDER BY prefix_order LIMIT n`` reads n index entries of the
        prefix's range and stops."""
        raise NotImplementedError

    #: Whether :meth:`prefix_ranges` reads its ranges one after another and stops at its limit, so
    #: that one statement may take every range however few rows are needed.
    ranges_stop_early = False

    def prefix_ranges(
        self,
        columns: str,
        source: str,
        where: Sequence[str],
        col: str,
        prefixes: Sequence[str],
        then: str,
        limit: int,
        binds: dict[str, Any],
        *,
        holders: Sequence[tuple[str, ...]] = (),
        probe: Sequence[str] = (),
    ) -> str:
        """One statement: the first ``limit`` rows of ``SELECT columns FROM source WHERE where`` whose
        ``col`` starts with one of ``prefixes`` (ignoring ASCII case, disjoint, in index order; ``""``
        for every row), by prefix, then by :meth:`prefix_order` of ``col`` and ``then``; each
        prefix's range read from the ``0004`` index in that order, up to ``limit`` rows. The rows
        carry ``columns`` and ``rng``, the prefix's index in ``prefixes``. ``source`` is aliased
        ``l``; ``col`` and ``then`` name its columns as ``l.<column>``, which also names them in the
        statement around it. Adds its bind values to ``binds``.

        ``holders``, one tuple per prefix: the enterprises that may hold its lots, bound to
        ``:holders`` (as :meth:`array`) wherever ``source`` or ``where`` name it, for each range its
        own. A range is then not read in index order but filtered first (behind :attr:`fence`), then
        sorted. ``probe``: conditions on ``lots x`` that some lot of a range must meet (one index
        probe), else the range is not read at all.

        Here a ``UNION ALL`` of one arm per prefix, each planned on its own: SQLite plans that in
        microseconds (and allows 500 arms)."""
        order = f"{self.prefix_order(col)}, {then}"
        arms = []
        for k, prefix in enumerate(prefixes):
            cond = list(where)
            if prefix:
                binds |= self.prefix_params(f"t{k}", prefix)
                cond.append(self.prefix_match(col, f"t{k}"))
                if probe:
                    inside = " AND ".join([*probe, self.prefix_match("x.lot", f"t{k}")])
                    cond.append(f"EXISTS (SELECT 1 FROM lots x WHERE {inside})")
            inner = f"SELECT {columns}, {k} AS rng FROM {source} WHERE {' AND '.join(cond) or '1 = 1'}"
            if holders:
                binds[f"h{k}"] = self.array(holders[k])
                inner = f"SELECT * FROM ({_HOLDERS.sub(f':h{k}', inner)}{self.fence}) l"
            arms.append(f"SELECT * FROM ({inner} ORDER BY {order} LIMIT {int(limit)}) a{k}")
        return f"SELECT * FROM ({' UNION ALL '.join(arms)}) l ORDER BY l.rng, {order} LIMIT {int(limit)}"

    def lookup_join(self, table: str, alias: str, on: str) -> str:
        """A join of ``table`` (as ``alias``) whose rows are looked up by ``on`` (an index) for each
        row before it, whatever the planner estimates; the conditions on ``alias`` are applied after."""
        return f"JOIN {table} {alias} ON {on}"

    #: Appended to a subquery to keep the planner from merging it into the query around it (so that a
    #: prefix filter is answered from its index before an ORDER BY … LIMIT is considered).
    fence = ""

    # -- session settings -------------------------------------------------------------------------

    def tune_for_audit(self, conn: Connection) -> None:
        """Settings for one read transaction of large joins and aggregates."""

    def tune_for_lookup(self, conn: Connection) -> None:
        """Settings for one read transaction of index lookups that the planner may overestimate."""

    def tune_for_writing(self, conn: Connection) -> None:
        """Settings for one write transaction of small indexed queries."""

    @contextmanager
    def index_joins_only(self, conn: Connection) -> Iterator[None]:
        """For one query whose recursive walk the planner cannot size (see ``intake/checks.py``): joins
        by index lookups only, so that it touches the submission's neighbourhood, not the store."""
        yield

    def snapshot(self, conn: Connection) -> Connection:
        """``conn`` set to see one snapshot for a whole transaction of several reads."""
        return conn


#: Where ``source`` and ``where`` of :meth:`Dialect.prefix_ranges` name a range's holders.
_HOLDERS = re.compile(r":holders\b")


def pairs(values: Iterable[tuple[int, int]]) -> str:
    """The bind value of a list of integer pairs for :meth:`Dialect.pair_member` (JSON text on both)."""
    return "[" + ",".join(f"[{a},{b}]" for a, b in values) + "]"


_DIALECTS: dict[str, Dialect] = {}


def register(driver_name: str, dialect: Dialect) -> None:
    _DIALECTS[driver_name] = dialect


def dialect_of(conn: Connection) -> Dialect:
    """The :class:`Dialect` of a connection's database."""
    name = conn.dialect.name
    if name not in _DIALECTS:
        # The backend modules register themselves on import; a connection exists only once its
        # backend module was imported, except in tests that build engines by hand.
        from reetrace.store import postgres, sqlite  # noqa: F401
    return _DIALECTS[name]
