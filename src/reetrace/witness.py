"""A witness: keeps the last checkpoint of the log it verified, and accepts a newer one only with a valid
consistency proof, so a history rewritten by whoever controls the database is caught by every witness
that saw a checkpoint from before the rewrite.

The witness trusts nothing but the log's verifier key and its own state file. It checks with
:mod:`reetrace.verifier` only (like the verifier, it imports nothing from :mod:`reetrace.tlog` or the
store). Where the checkpoints and proofs come from is a :class:`LogSource`: the database
(:class:`reetrace.transparency.StoreSource`, ``reetrace witness --db``) or the HTTP service's public
``/v1/log`` endpoints (:class:`HttpSource`, ``reetrace witness --server``).

State file (``reetrace-witness/1``, JSON, replaced atomically: written to a temporary file in the same
directory, synced, renamed)::

    {"format": "reetrace-witness/1", "origin": "...", "size": N, "root": "<base64>",
     "checkpoint": "<the signed note>",
     "frontier": [[level, index, "<base64>"], ...]}

``frontier`` holds the perfect subtrees whose right fold is the root (one per 1-bit of the size, largest
first), checked against the signed root when the checkpoint is accepted. They are what lets the witness,
when a later tree does not extend the one it holds, say *which range of positions* differs: it asks the
source for the same subtrees and names the first one that changed. It cannot name a single position:
it holds O(log n) hashes, not the leaves (``reetrace verify`` against a copy of the log can).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reetrace.verifier import Checkpoint, VerificationError, open_checkpoint, verify_consistency

FORMAT = "reetrace-witness/1"
Key = tuple[int, int]


class LogSource(Protocol):
    """Where a witness gets the log's statements. Nothing it returns is trusted: the checkpoint is
    checked against the log's key, proofs against the roots, subtrees against the signed root."""

    name: str

    def checkpoint(self) -> str:
        """The latest signed checkpoint (signed note text)."""
        ...

    def consistency(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 ``PROOF(first, D[second])``."""
        ...

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """The hashes of perfect subtrees ``(level, index)`` of the current tree."""
        ...


class WitnessAlarm(Exception):
    """The log contradicted what the witness holds. ``kind``: ``FORK`` (two roots for one size),
    ``INCONSISTENT`` (the new tree does not extend the old one) or ``ROLLBACK`` (the log shrank)."""

    def __init__(self, kind: str, message: str, positions: tuple[int, int] | None = None) -> None:
        self.kind = kind
        self.positions = positions
        super().__init__(f"{kind}: {message}")


@dataclass(frozen=True)
class WitnessResult:
    previous: int | None  # the size held before, None on the first run
    size: int
    root: bytes

    def message(self) -> str:
        if self.previous is None:
            return f"first checkpoint: size {self.size}, root {base64.b64encode(self.root).decode()}"
        if self.previous == self.size:
            return f"unchanged: size {self.size}"
        return f"consistent: size {self.previous} -> {self.size}, root {base64.b64encode(self.root).decode()}"


def _edge(size: int) -> list[Key]:
    return [(lv, (size >> lv) - 1) for lv in range(size.bit_length() - 1, -1, -1) if size >> lv & 1]


def _fold(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hashlib.sha256(b"\x01" + h + acc).digest()
    return acc


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _frontier(source: LogSource, cp: Checkpoint) -> list[tuple[int, int, bytes]]:
    """The subtrees of ``cp``'s tree, from the source, checked against its signed root."""
    keys = _edge(cp.size)
    got = source.nodes(keys)
    if any(k not in got for k in keys):
        raise VerificationError(f"the source lacks subtrees of the tree of size {cp.size}")
    hashes = [got[k] for k in keys]
    if _fold(hashes) != cp.root:
        raise VerificationError(f"the source's subtrees of size {cp.size} do not fold to the signed root")
    return [(lv, i, got[(lv, i)]) for lv, i in keys]


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} state file")
    return state


def save_state(path: Path, cp: Checkpoint, note: str, frontier: list[tuple[int, int, bytes]]) -> None:
    state = {
        "format": FORMAT,
        "origin": cp.origin,
        "size": cp.size,
        "root": _b64(cp.root),
        "checkpoint": note,
        "frontier": [[lv, i, _b64(h)] for lv, i, h in frontier],
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _locate(source: LogSource, state: dict[str, Any]) -> tuple[int, int] | None:
    """The positions of the first witnessed subtree that the source's tree now holds differently."""
    held = [(int(lv), int(i), base64.b64decode(h)) for lv, i, h in state["frontier"]]
    now = source.nodes([(lv, i) for lv, i, _ in held])
    for lv, i, h in held:  # largest (leftmost) first
        if now.get((lv, i)) != h:
            return (i << lv) + 1, (i + 1) << lv
    return None


def witness(source: LogSource, verifier_key: str, state_file: str | os.PathLike[str]) -> WitnessResult:
    """One witness run: verify the source's latest checkpoint against the held one; on success hold it.

    Raises :class:`WitnessAlarm` when the log contradicts the held checkpoint (the state file is then
    left as it was, so every later run refuses too), :class:`VerificationError` when the source hands
    out something that does not verify (a bad signature, a malformed proof).
    """
    path = Path(state_file)
    state = load_state(path)
    note = source.checkpoint()
    cp = open_checkpoint(note, verifier_key)
    if state is None:
        save_state(path, cp, note, _frontier(source, cp))
        return WitnessResult(None, cp.size, cp.root)

    old_size = int(state["size"])
    old_root = base64.b64decode(state["root"])
    if cp.origin != state["origin"]:
        raise VerificationError(f"checkpoint is for log {cp.origin!r}, the witness holds {state['origin']!r}")
    if cp.size == old_size:
        if cp.root != old_root:
            raise WitnessAlarm(
                "FORK",
                f"two signed checkpoints of size {cp.size} with different roots "
                f"(held {state['root']}, now {_b64(cp.root)}); keep both notes as evidence",
                _locate(source, state),
            )
        return WitnessResult(old_size, cp.size, cp.root)
    if cp.size < old_size:
        raise WitnessAlarm(
            "ROLLBACK", f"the log shrank from size {old_size} (held) to {cp.size} (signed now)"
        )
    proof = source.consistency(old_size, cp.size)
    try:
        verify_consistency(old_size, cp.size, proof, old_root, cp.root)
    except VerificationError as exc:
        where = _locate(source, state)
        said = (
            f"; the source's tree differs from the witnessed one within positions {where[0]}..{where[1]}"
            if where
            else "; the source's subtrees still match the held ones, so the proof itself is wrong"
        )
        raise WitnessAlarm(
            "INCONSISTENT",
            f"the tree of size {cp.size} does not extend the witnessed tree of size {old_size} ({exc}){said}",
            where,
        ) from exc
    save_state(path, cp, note, _frontier(source, cp))
    return WitnessResult(old_size, cp.size, cp.root)


class SourceError(Exception):
    """The source could not be read: unreachable, an HTTP error, or an answer of the wrong shape."""


class HttpSource:
    """A witness's view of a log published by ``reetrace serve`` (the public ``/v1/log`` endpoints,
    no token): ``reetrace witness --server URL``. Every request has a timeout; an unreachable server,
    an error status or an answer of the wrong shape raises :class:`SourceError` naming what failed."""

    #: Subtree hashes per ``/v1/log/nodes`` request (the service's bound).
    BATCH = 64

    def __init__(self, url: str, *, timeout: float = 30.0, client: Any = None) -> None:
        import httpx

        self.name = url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.name, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        import httpx

        try:
            resp = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach {self.name}{path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            detail = ""
            try:
                detail = f": {resp.json().get('detail')}"
            except Exception:
                detail = f": {resp.text[:200]!r}" if resp.text else ""
            raise SourceError(f"{self.name}{path} answered {resp.status_code}{detail}")
        return resp

    def _json(self, path: str, params: dict[str, Any], key: str) -> Any:
        resp = self._get(path, params)
        try:
            body = resp.json()
        except ValueError as exc:
            raise SourceError(f"{self.name}{path} did not answer JSON") from exc
        if not isinstance(body, dict) or key not in body:
            raise SourceError(f"{self.name}{path} answered JSON without {key!r}")
        return body[key]

    def _hash(self, path: str, value: Any) -> bytes:
        try:
            if not isinstance(value, str):
                raise ValueError("not a string")
            raw = base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise SourceError(f"{self.name}{path} answered a hash that is not base64") from exc
        if len(raw) != 32:
            raise SourceError(f"{self.name}{path} answered a hash of {len(raw)} bytes, not 32")
        return raw

    def checkpoint(self) -> str:
        resp = self._get("/v1/log/checkpoint", {})
        if not resp.headers.get("content-type", "").startswith("text/plain"):
            raise SourceError(f"{self.name}/v1/log/checkpoint did not answer a signed note (text/plain)")
        return str(resp.text)

    def consistency(self, first: int, second: int) -> list[bytes]:
        path = "/v1/log/consistency"
        proof = self._json(path, {"first": first, "second": second}, "proof")
        if not isinstance(proof, list) or len(proof) > 128:
            raise SourceError(f"{self.name}{path} answered a proof that is not a list of hashes")
        return [self._hash(path, h) for h in proof]

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        path = "/v1/log/nodes"
        wanted = list(dict.fromkeys(keys))
        out: dict[Key, bytes] = {}
        for start in range(0, len(wanted), self.BATCH):
            batch = wanted[start : start + self.BATCH]
            got = self._json(path, {"keys": ",".join(f"{lv}.{i}" for lv, i in batch)}, "nodes")
            if not isinstance(got, dict):
                raise SourceError(f"{self.name}{path} answered nodes that are not an object")
            for lv, i in batch:  # only what was asked: anything else the server adds is ignored
                if f"{lv}.{i}" in got:
                    out[(lv, i)] = self._hash(path, got[f"{lv}.{i}"])
        return out
