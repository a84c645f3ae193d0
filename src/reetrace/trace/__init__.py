"""Tracing lots through the effective graph (docs/contract/trace.md).

- :func:`trace_back` — from a lot up to its origins (mine, import entry, scrap intake, unexplained),
  each with its share of the lot's REO and of each element, the separation plants and enterprises on
  the paths, and the audit findings that touch them;
- :func:`trace_forward` — from a lot down to every descendant, who holds it now, and where its REO
  ended (held, in transit, exported, consumed, lost).

Both select their subgraph in the database with one recursive query (:mod:`.select`), then compute on
it in memory (:mod:`.shares` per-event shares and estimates, :mod:`.order`, :mod:`.back`,
:mod:`.forward`). A result (:mod:`.result`) renders as a terminal tree (:mod:`.text`), DOT and GraphML
(:mod:`.graph`) or an SVG/PNG picture (:mod:`.picture`). The audit findings hung on nodes come from any
``FindingsFor`` callable; :func:`reetrace.audit.for_trace.audit_findings` is the audit's.
"""

from __future__ import annotations

from reetrace.errors import LotNotFound
from reetrace.trace.back import trace_back
from reetrace.trace.findings import FindingsFor
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
