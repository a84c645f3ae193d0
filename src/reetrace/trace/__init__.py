"""Tracing lots through the effective graph (docs/contract/trace.md).

- :func:`trace_back` — from a lot up to its origins (mine, import entry, scrap intake, unexplained),
  each with its share of the lot's REO and of each element, the separation plants and enterprises on
  the paths, and the audit findings that touch them;
- :func:`trace_forward` — from a lot down to every descendant, who holds it now, and where its REO
  ended (held, in transit, exported, consumed, lost).

Both select their subgraph in the database with one recursive query (:mod:`.select`), then compute on
it in memory (:mod:`.flows` per-event shares and estimates, :mod:`.order`, :mod:`.back`,
:mod:`.forward`). A result (:mod:`.result`) renders as a terminal tree (:mod:`.text`), DOT and GraphML
(:mod:`.graph`) or an SVG/PNG picture (:mod:`.picture`); :mod:`.findings` is the audit hook.
"""

from __future__ import annotations

from reetrace.trace.back import FindingsFor, LotNotFound, trace_back
from reetrace.trace.forward import trace_forward
from reetrace.trace.result import BackTrace, Edge, Ending, ForwardTrace, Node, Origin, Plant

__all__ = [
    "BackTrace",
    "Edge",
    "Ending",
    "FindingsFor",
    "ForwardTrace",
    "LotNotFound",
    "Node",
    "Origin",
    "Plant",
    "trace_back",
    "trace_forward",
]
