"""Tables of the store (SQLAlchemy Core), the same on SQLite and PostgreSQL.

``log`` is the record of truth: every appended record (registry changes, submission envelopes, events)
with its position and its link in the hash chain. The other tables are *derived* from the log bodies,
written in the same transaction, and exist so that trace and audit can work in SQL; ``reetrace verify``
re-derives them from the log and names the first position where they differ. Every table here is
append-only, enforced by database triggers (see the migrations).

Lots are keyed by their text reference ``ENT:LOT`` everywhere: an event may reference another
enterprise's lot before that enterprise reports it, so a surrogate integer key would need a lookup (and
a placeholder row) on every write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from reetrace.elements import ELEMENTS


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored in UTC: ``timestamptz`` on PostgreSQL, sortable text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: reetrace stores aware times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite has no time zones: store naive UTC, which SQLAlchemy writes as sortable ISO text.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

Pos = sa.BigInteger

log = sa.Table(
    "log",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
)

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("enterprise", sa.String(64), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("received_at_given", sa.Boolean, nullable=False),
    sa.Column("deadline", UTCDateTime, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Index("ix_submissions_enterprise_period", "enterprise", "period"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("submission", Pos, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("enterprise", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("site", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("counterparty", sa.String(64)),
    sa.Column("process", sa.String(32)),
    sa.Column("retracts", sa.String(128)),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Index("ix_events_enterprise_event_id", "enterprise", "event_id"),
    sa.Index("ix_events_submission", "submission"),
    sa.Index("ix_events_enterprise_occurred_at", "enterprise", "occurred_at"),
)

#: Output lines: one row per lot created. Element columns hold REO-equivalent kg (NULL: profile unknown).
lots = sa.Table(
    "lots",
    metadata,
    sa.Column("position", Pos, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("lot", sa.String(130), nullable=False),
    sa.Column("enterprise", sa.String(64), nullable=False),
    sa.Column("product", sa.String(500), nullable=False),
    sa.Column("form", sa.String(16), nullable=False),
    sa.Column("mass_kg", sa.Double, nullable=False),
    sa.Column("reo_pct", sa.Double),
    sa.Column("re_metal_pct", sa.Double),
    sa.Column("reo_kg", sa.Double, nullable=False),
    *(sa.Column(el, sa.Double) for el in ELEMENTS),
    sa.PrimaryKeyConstraint("position", "idx"),
    sa.Index("ix_lots_lot", "lot"),
)

#: Case-insensitive prefix search on lot codes (reetrace.search): one index per backend, each spelled
#: the way its planner answers a prefix from it, created by migration 0004 and not declared here
#: (Alembic cannot compare expression indexes; tests/test_search.py checks that queries use them).
SEARCH_INDEXES = {"sqlite": "ix_lots_lot_nocase", "postgresql": "ix_lots_lot_lower"}
#: The same per form (migration 0008): a code prefix searched among the lots of one form is one range of
#: it, read in order, however few lots of that form the prefix has.
FORM_SEARCH_INDEXES = {"sqlite": "ix_lots_form_lot_nocase", "postgresql": "ix_lots_form_lot_lower"}
#: And per product name (migration 0008): the distinct names, and each one's lots by code.
PRODUCT_SEARCH_INDEXES = {"sqlite": "ix_lots_product_lot_nocase", "postgresql": "ix_lots_product_lot_lower"}

#: Input lines: what an event draws from a lot (the holder is the lot's enterprise, not the reporter's
#: for a receive).
inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("position", Pos, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("lot", sa.String(130), nullable=False),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("mass_kg", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("position", "idx"),
    sa.Index("ix_inputs_lot", "lot"),
)

#: The reference numbers an event carries, for finding it by one (reetrace.search): the customs entry of
#: an import's ``origin`` or an export's ``destination``, and each value of ``documents`` (waybill,
#: invoice, contract…), in that order. ``field`` names where the number is in the record
#: (``origin.customs_entry``, ``documents.waybill``); ``number_key`` is the number lower-cased by Python
#: when it is derived, so that the same comparison holds on SQLite and PostgreSQL whatever the database's
#: collation, and the lookup is an equality on one index (migration 0008).
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("position", Pos, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("field", sa.String(80), nullable=False),
    sa.Column("number", sa.String(200), nullable=False),
    sa.Column("number_key", sa.String(200), nullable=False),
    sa.PrimaryKeyConstraint("position", "idx"),
    sa.Index("ix_documents_number_key", "number_key"),
)

#: Lot-to-lot edges. A ``process`` (and every other blending type) has an edge from every input to every
#: output, with ``mass_kg`` what the event drew from ``src``. A ``receive`` pairs (docs/contract/events.md):
#: one edge per output, from the input it comes from, with ``mass_kg`` the part of what was drawn from
#: ``src`` that went into that output (all of it, or for a lot split on arrival the drawn mass
#: apportioned by output mass, so a source's edges add up to what was drawn); a legacy receive recorded
#: before pairing with unequal counts keeps its blend (see ``derive.receive_edges``). Content comes from
#: ``src``'s creating line in ``lots``, which may be reported later than the edge (by the sender), so it
#: is joined at query time rather than frozen here.
edges = sa.Table(
    "edges",
    metadata,
    sa.Column("position", Pos, nullable=False),
    sa.Column("src", sa.String(130), nullable=False),
    sa.Column("dst", sa.String(130), nullable=False),
    sa.Column("mass_kg", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("position", "src", "dst"),
    sa.Index("ix_edges_dst", "dst"),
    sa.Index("ix_edges_src", "src"),
)

#: A retract event and the position of the event it withdraws.
retractions = sa.Table(
    "retractions",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("target", Pos, nullable=False),
    sa.Index("ix_retractions_target", "target", unique=True),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Index("ix_groups_code", "code"),
)

enterprises = sa.Table(
    "enterprises",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("grp", sa.String(64)),
    sa.Column("province", sa.String(500)),
    sa.Column("roles", sa.String(500), nullable=False),
    sa.Column("approved", sa.Boolean, nullable=False),
    sa.Index("ix_enterprises_code", "code"),
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("enterprise", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("licence", sa.String(64)),
    sa.Column("capacity_t", sa.Double),
    sa.Column("name", sa.String(500)),
    sa.Column("province", sa.String(500)),
    sa.Index("ix_sites_code", "code"),
)

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("tonnes_reo", sa.Double, nullable=False),
    sa.Column("note", sa.String(500)),
    sa.Index("ix_quotas_key", "year", "holder", "category", "batch"),
)

#: A foreign supplier's declared provenance behind an import entry (log records of kind ``foreign``,
#: ``reetrace epcis attach``): one row per accepted step of the supplier's EPCIS document. ``kind`` is
#: ``origin`` (``lot`` commissioned at ``location``), ``edge`` (``src`` went into ``lot`` at a
#: transformation; ``mass_kg`` is what was drawn from ``src``) or ``custody`` (``lot`` observed, shipped,
#: received; ``step`` is the bizStep). Declared by the supplier, verified by no record of ours.
foreign_links = sa.Table(
    "foreign_links",
    metadata,
    sa.Column("position", Pos, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("import_entry", sa.String(64), nullable=False),
    sa.Column("event_index", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("src", sa.String(500)),
    sa.Column("lot", sa.String(500), nullable=False),
    sa.Column("mass_kg", sa.Double, nullable=False),
    sa.Column("location", sa.String(500)),
    sa.Column("step", sa.String(64)),
    sa.PrimaryKeyConstraint("position", "idx"),
    sa.Index("ix_foreign_links_import_entry", "import_entry"),
)

#: The Merkle tree over the log (RFC 9162; docs/transparency-log.md): node ``(level, idx)`` is the root
#: of the perfect subtree over leaves ``[idx * 2**level, (idx + 1) * 2**level)``, leaf ``i`` being the
#: frame at log position ``i + 1``. Derived from the log like the tables above, written in the same
#: transaction (:mod:`reetrace.store.tree`), never changed once written.
merkle_nodes = sa.Table(
    "merkle_nodes",
    metadata,
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    sa.PrimaryKeyConstraint("level", "idx"),
)

#: Signed checkpoints the log has issued (C2SP signed notes), one per tree size: what a witness reads
#: and what the service publishes. Not derived from the log (the signature needs the log's key), but
#: ``verify`` checks that each one's root is the stored tree's root of its size.
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("note", sa.Text, nullable=False),
)

#: Every table that holds recorded facts: the triggers refuse UPDATE, DELETE and TRUNCATE on each.
FACT_TABLES: tuple[sa.Table, ...] = (
    log, submissions, events, lots, inputs, edges, retractions, groups, enterprises, sites, quotas,
    merkle_nodes, documents,
)  # fmt: skip

#: Append-only tables that are not facts of the log (same triggers).
APPEND_ONLY_EXTRA: tuple[sa.Table, ...] = (checkpoints,)

#: Derived tables that carry a registry kind, keyed by the kind's name in log records.
REGISTRY_TABLES: dict[str, sa.Table] = {
    "group": groups,
    "enterprise": enterprises,
    "site": sites,
    "quota": quotas,
}

# -- views -------------------------------------------------------------------------------------------
#
# The views are created by the migrations (``migrations/versions/0001_initial.py`` holds their SQL);
# here they are declared so that queries can name their columns. They live on their own MetaData:
# ``metadata.create_all`` and the migration drift check (tests/test_migrations.py) see tables only.

#: Views of the store, for queries only (never created from here).
views = sa.MetaData()


def _view(name: str, table: sa.Table) -> sa.Table:
    """A view with exactly the columns of ``table`` (every view is ``SELECT t.* FROM t WHERE ...``)."""
    return sa.Table(name, views, *(sa.Column(c.name, c.type) for c in table.columns))


#: Registry rows are versions: the current one has the highest position for its key.
current_groups = _view("current_groups", groups)
current_enterprises = _view("current_enterprises", enterprises)
current_sites = _view("current_sites", sites)
current_quotas = _view("current_quotas", quotas)

#: Rows of events that no retraction names; ``effective_events`` also leaves out the retract events.
effective_events = _view("effective_events", events)
effective_lots = _view("effective_lots", lots)
effective_inputs = _view("effective_inputs", inputs)
effective_edges = _view("effective_edges", edges)

# -- principals and tokens (migration 0005): who may use the service, as records of the log ----------

#: A principal: a named identity with one role (and, for an enterprise role, the enterprise it acts for).
principals = sa.Table(
    "principals",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("enterprise", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Index("ix_principals_name", "name"),
)

#: A bearer token: only the SHA-256 of its secret is kept, never the token.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(32), nullable=False),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("issued_by", sa.String(128), nullable=False),
    sa.Index("ix_tokens_id", "id", unique=True),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("position", Pos, primary_key=True, autoincrement=False),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=False),
    sa.Column("revoked_by", sa.String(128), nullable=False),
    sa.Index("ix_revocations_token", "token"),
)

#: Derived tables of the principal kinds, keyed by the kind's name in log records.
PRINCIPAL_TABLES: dict[str, sa.Table] = {
    "principal": principals,
    "token": tokens,
    "revocation": revocations,
}


#: Saved whole-store audit runs (``reetrace audit --save``, the workbench's "run the audit now"). Not a
#: fact table and not in the hash chain: a run is a conclusion drawn from the log at ``position`` (whose
#: chain link is ``head``), kept so that a page can show a national year's findings at once instead of
#: auditing for half a minute per click. Anyone can check a run by auditing again at that position.
audit_runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("as_of", sa.String(40), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Index("ix_audit_runs_created", "created_at"),
)
