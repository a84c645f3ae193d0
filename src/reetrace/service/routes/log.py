"""The transparency log, public: the signed checkpoint, consistency and inclusion proofs, subtree hashes.

No token: the log is public evidence, and these answers are hashes and a signed note, nothing of what
the records say. They are what a witness (``reetrace witness --server``) and a receipt holder need.
Every answer is read from one snapshot of the primary (it orders the log and signs its checkpoints: a
replica could be behind the checkpoint it would be asked to prove).
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from reetrace import Store, transparency
from reetrace.service.auth import PrimaryStore
from reetrace.service.problems import HTTPProblem, responses
from reetrace.service.responses import JSON
from reetrace.store.tree import TableNodes

router = APIRouter(prefix="/v1/log", tags=["log"])

#: Most subtree hashes one ``/v1/log/nodes`` request may ask for (a witness asks for one per 1-bit of
#: a tree size: at most 63).
MAX_NODES = 64
#: Largest tree size or leaf index a request may name (positions are 64-bit signed in the store).
MAX_SIZE = 2**62
_KEY = re.compile(r"^(\d{1,2})\.(\d{1,19})$")

Size = Annotated[int, Query(ge=0, le=MAX_SIZE, description="A tree size (number of records)")]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _field_problem(field: str, reason: str) -> HTTPProblem:
    return HTTPProblem(422, reason, errors=[{"line": None, "field": f"query.{field}", "reason": reason}])


def _check_size(size: int, field: str, have: int) -> None:
    if size > have:
        raise _field_problem(field, f"the log has {have} records; no tree of size {size}")


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The signed checkpoint (C2SP signed note)"},
        **responses(404),
    },
)
def checkpoint(request: Request, store: PrimaryStore) -> Response:
    """The log's latest checkpoint, signed now (C2SP signed note; docs/transparency-log.md). Public.

    404 when the service runs without the log's key (``reetrace serve --log-key``).
    """
    signer = request.app.state.signer
    if signer is None:
        raise HTTPProblem(404, "this service has no log key: it publishes no signed checkpoint")
    # Signing a new tree records its note (a write): done once per tree this worker sees, so that
    # anonymous polling of an unchanged log costs one read and never takes the writer's lock.
    head = transparency.tree_state(store)
    cached: tuple[int, bytes, str] | None = getattr(request.app.state, "log_checkpoint", None)
    if cached is not None and cached[:2] == (head.size, head.root):
        note = cached[2]
    else:
        note = transparency.latest_checkpoint(store, signer)
        lines = note.split("\n")
        request.app.state.log_checkpoint = (int(lines[1]), base64.b64decode(lines[2]), note)
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get("/consistency", response_class=JSON, response_model=dict[str, Any], responses=responses(422))
async def consistency(store: PrimaryStore, first: Size, second: Size) -> Response:
    """RFC 9162 ``PROOF(first, D[second])``: the tree of ``first`` records is a prefix of the tree of
    ``second`` records (``first <= second <= size of the log``). Public."""
    if first > second:
        raise _field_problem("first", f"first ({first}) is larger than second ({second})")
    have = (await run_in_threadpool(transparency.tree_state, store)).size
    _check_size(second, "second", have)
    proof = await run_in_threadpool(transparency.consistency_proof, store, first, second)
    return JSON({"first": first, "second": second, "proof": [_b64(h) for h in proof]})


@router.get("/inclusion", response_class=JSON, response_model=dict[str, Any], responses=responses(422))
async def inclusion(
    store: PrimaryStore,
    index: Annotated[int, Query(ge=0, le=MAX_SIZE, description="0-based leaf index (= position - 1)")],
    size: Size,
) -> Response:
    """RFC 9162 ``PATH(index, D[size])`` with the leaf hash and the root of ``size``. Public."""
    if index >= size:
        raise _field_problem("index", f"leaf index {index} is not in a tree of size {size}")
    have = (await run_in_threadpool(transparency.tree_state, store)).size
    _check_size(size, "size", have)
    leaf, proof, root = await run_in_threadpool(transparency.inclusion_proof, store, index + 1, size)
    return JSON({"index": index, "size": size, "leaf_hash": _b64(leaf), "root": _b64(root),
                 "proof": [_b64(h) for h in proof]})  # fmt: skip


def _parse_keys(raw: str) -> list[tuple[int, int]]:
    parts = [p for p in raw.split(",") if p]
    if not parts:
        raise _field_problem("keys", "name at least one subtree as LEVEL.INDEX")
    if len(parts) > MAX_NODES:
        raise _field_problem("keys", f"at most {MAX_NODES} subtrees per request, {len(parts)} asked")
    keys: list[tuple[int, int]] = []
    for p in parts:
        m = _KEY.match(p.strip())
        if m is None:
            raise _field_problem("keys", f"{p[:40]!r} is not LEVEL.INDEX (e.g. 3.0)")
        level, index = int(m.group(1)), int(m.group(2))
        if level > 62 or index >= MAX_SIZE >> level:
            raise _field_problem(
                "keys", f"no subtree {level}.{index} in a tree of at most {MAX_SIZE} records"
            )
        if (level, index) not in keys:
            keys.append((level, index))
    return keys


def _nodes(store: Store, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    with store.reading() as conn:
        return TableNodes(conn).get(keys)


@router.get("/nodes", response_class=JSON, response_model=dict[str, Any], responses=responses(422))
async def nodes(
    store: PrimaryStore,
    keys: Annotated[str, Query(max_length=MAX_NODES * 24, description="LEVEL.INDEX,LEVEL.INDEX,…")],
) -> Response:
    """Hashes of perfect subtrees of the current tree, by ``LEVEL.INDEX`` (the subtree of ``2**LEVEL``
    leaves starting at leaf ``INDEX * 2**LEVEL``); subtrees the tree has not completed are left out.
    At most 64 per request. Public."""
    wanted = _parse_keys(keys)
    got = await run_in_threadpool(_nodes, store, wanted)
    return JSON({"nodes": {f"{lv}.{i}": _b64(got[(lv, i)]) for lv, i in wanted if (lv, i) in got}})
