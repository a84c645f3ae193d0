"""A store's events -> an EPCISDocument, read from the log frames (the canonical records), streamed.

What is exported is what was recorded: each event's record is sliced out of its hash-chained frame in
``log`` and exported as it is (no derived table is trusted for content). The record is not validated
again: it was validated when it was written, it is the canonical form of that event (validating it gives
it back unchanged), and checking a log is ``verify``'s job; validation was a quarter of the export's time.
The derived ``events`` table only selects *which* positions (by enterprise, period, submission, or a lot's
traced subgraph). Rows are fetched in position order with a streaming cursor and written one by one, so
memory holds one event whatever the size of the export. A retract needs the event it withdraws: the
resolver looks it up in the store on the same connection (one snapshot), never in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import IO, Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.epcis.export import Record, RecordResolver, records_to_epcis, write_epcis
from reetrace.epcis.ids import DEFAULT_LOT_IDS, LotIds
from reetrace.models import RECORDED, Event
from reetrace.periods import Period
from reetrace.store.base import Store
from reetrace.store.schema import events, log

T = TypeVar("T")

_RECORD = b'"record":'
_AFTER = b',"submission":'
#: Positions per ``IN (...)`` query when exporting a traced subgraph.
_CHUNK = 500


def record_bytes(frame: bytes) -> bytes:
    """The canonical record inside an event frame (keys are sorted: ``record`` comes before ``submission``,
    the last key), without decoding the frame."""
    start = frame.index(_RECORD) + len(_RECORD)
    end = frame.rindex(_AFTER)
    return frame[start:end]


def event_of_frame(frame: bytes) -> Event:
    """The recorded event of a frame (read as ``verify`` reads it: rules newer than the record spare it)."""
    return Event.model_validate_json(record_bytes(frame), context={RECORDED: True})


def record_of_frame(frame: bytes) -> Record:
    """The recorded event of a frame as its canonical record (a dict), not validated again."""
    rec: Record = orjson.loads(record_bytes(frame))
    return rec


def _select(enterprise: str | None, period: str | None, submission: int | None) -> sa.Select[tuple[Any, ...]]:
    q = sa.select(log.c.body).join(events, events.c.position == log.c.position)
    if enterprise is not None:
        q = q.where(events.c.enterprise == enterprise)
    if period is not None:
        per = Period.parse(period)
        q = q.where(events.c.occurred_at >= per.start(), events.c.occurred_at < per.end())
    if submission is not None:
        q = q.where(events.c.submission == submission)
    return q.order_by(log.c.position)


def _stream(conn: Connection, q: sa.Select[tuple[Any, ...]]) -> Iterator[bytes]:
    with conn.execution_options(stream_results=True, yield_per=2000).execute(q) as rows:
        for (body,) in rows:
            yield bytes(body)


def _traced_positions(conn: Connection, lot: str, forward: bool) -> list[int]:
    from reetrace.trace import trace_back, trace_forward

    found: set[int] = set()
    if forward:
        fwd = trace_forward(conn, lot)
        nodes, edges = fwd.nodes, fwd.edges
        for n in fwd.nodes:
            found.update(int(d["position"]) for d in n.draws if "position" in d)
    else:
        back = trace_back(conn, lot)
        nodes, edges = back.nodes, back.edges
    found.update(n.created_by.position for n in nodes if n.created_by is not None)
    found.update(e.position for e in edges)
    return sorted(found)


def _by_positions(conn: Connection, positions: list[int]) -> Iterator[bytes]:
    for i in range(0, len(positions), _CHUNK):
        chunk = positions[i : i + _CHUNK]
        q = sa.select(log.c.body).where(log.c.position.in_(chunk)).order_by(log.c.position)
        for (body,) in conn.execute(q):
            yield bytes(body)


def _resolver(conn: Connection, read: Callable[[bytes], T]) -> Callable[[str, str], T | None]:
    """``(enterprise, event_id) -> read(frame) | None``: the event a retract withdraws, from the store."""
    q = (
        sa.select(log.c.body)
        .join(events, events.c.position == log.c.position)
        .where(
            events.c.enterprise == sa.bindparam("e"),
            events.c.event_id == sa.bindparam("i"),
            events.c.type != "retract",
        )
        .order_by(log.c.position)
        .limit(1)
    )

    def resolve(enterprise: str, event_id: str) -> T | None:
        body = conn.execute(q, {"e": enterprise, "i": event_id}).scalar()
        return None if body is None else read(bytes(body))

    return resolve


def store_resolver(conn: Connection) -> Any:
    """``(enterprise, event_id) -> Event | None`` over the store: the event a retract withdraws."""
    return _resolver(conn, event_of_frame)


def record_resolver(conn: Connection) -> RecordResolver:
    """``(enterprise, event_id) -> Record | None`` over the store: the record a retract withdraws."""
    return _resolver(conn, record_of_frame)


def select_events(
    conn: Connection,
    *,
    enterprise: str | None = None,
    period: str | None = None,
    lot: str | None = None,
    forward: bool = False,
    submission: int | None = None,
) -> Iterable[Event]:
    """The recorded events a selection names, in log order (an iterator over a streaming cursor), each
    validated back into an :class:`Event` (as ``verify`` reads it)."""
    return map(event_of_frame, _frames(conn, enterprise, period, lot, forward, submission))


def select_records(
    conn: Connection,
    *,
    enterprise: str | None = None,
    period: str | None = None,
    lot: str | None = None,
    forward: bool = False,
    submission: int | None = None,
) -> Iterable[Record]:
    """The records a selection names, in log order (an iterator over a streaming cursor)."""
    return map(record_of_frame, _frames(conn, enterprise, period, lot, forward, submission))


def _frames(
    conn: Connection,
    enterprise: str | None,
    period: str | None,
    lot: str | None,
    forward: bool,
    submission: int | None,
) -> Iterator[bytes]:
    """The log frames a selection names, in log order."""
    if lot is not None:
        if enterprise is not None or period is not None or submission is not None:
            raise ValueError("--lot exports a lot's traced events: it takes no enterprise or period")
        return _by_positions(conn, _traced_positions(conn, lot, forward))
    if forward:
        raise ValueError("--forward goes with --lot")
    return _stream(conn, _select(enterprise, period, submission))


def export_epcis(
    store: Store,
    fp: IO[bytes],
    *,
    enterprise: str | None = None,
    period: str | None = None,
    lot: str | None = None,
    forward: bool = False,
    submission: int | None = None,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
    creation_date: datetime | None = None,
) -> int:
    """Write the selected events as one EPCIS 2.0 document to ``fp``; returns the number of events.

    Select by ``enterprise`` and/or ``period`` (``YYYY-MM``, Asia/Shanghai; events by their time), by
    ``submission`` (an envelope's position), or by ``lot`` (``ENT:LOT``: the events of its backward trace,
    or with ``forward`` its forward trace); nothing selects every event of the store. Every event
    carries its CBV 2.0 event hash ID; a retract is written as an error declaration on the event it
    withdraws (looked up in the store).
    """
    with store.reading() as conn:
        conn = store.sql.snapshot(conn)
        with conn.begin():
            chosen = select_records(
                conn, enterprise=enterprise, period=period, lot=lot, forward=forward, submission=submission
            )
            exported = records_to_epcis(chosen, lot_ids, record_resolver(conn))
            return write_epcis(exported, fp, creation_date=creation_date)


__all__ = [
    "event_of_frame", "export_epcis", "record_bytes", "record_of_frame", "record_resolver", "select_events",
    "select_records", "store_resolver",
]  # fmt: skip
