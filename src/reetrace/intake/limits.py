"""Limits on what one submission may ask the store to hold (docs/contract/files.md#limits).

They guard the store and the reader, not the contract: a record within the contract that breaks one is
refused with its line and field, and nothing is written. Each has a default and an environment variable
(read when a file is opened, so a forked parser process sees the same values):

- ``REETRACE_MAX_EDGES`` — inputs × outputs of one event (the lot-to-lot edges it creates): 10,000;
- ``REETRACE_MAX_LINE_BYTES`` — one JSON Lines record or one CSV line: 1 MiB;
- ``REETRACE_MAX_DECOMPRESSED`` — the decompressed size of a gzip upload: 2 GiB.

Per-record limits that ``verify`` re-applies to stored records (lot lines per side, the ``documents``
entries, the length of every text) are part of the contract in :mod:`reetrace.models` and are not
configurable: a record accepted once must validate for ever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_EDGES = 10_000
MAX_LINE_BYTES = 1 << 20
MAX_DECOMPRESSED = 2 << 30


@dataclass(frozen=True)
class Limits:
    max_edges: int = MAX_EDGES
    max_line_bytes: int = MAX_LINE_BYTES
    max_decompressed: int = MAX_DECOMPRESSED

    @classmethod
    def from_env(cls) -> Limits:
        def get(name: str, default: int) -> int:
            raw = os.environ.get(name)
            if raw is None or not raw.strip():
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"${name}={raw!r} is not a whole number") from None
            if value < 1:
                raise ValueError(f"${name} must be at least 1")
            return value

        return cls(
            get("REETRACE_MAX_EDGES", MAX_EDGES),
            get("REETRACE_MAX_LINE_BYTES", MAX_LINE_BYTES),
            get("REETRACE_MAX_DECOMPRESSED", MAX_DECOMPRESSED),
        )


__all__ = ["MAX_DECOMPRESSED", "MAX_EDGES", "MAX_LINE_BYTES", "Limits"]
