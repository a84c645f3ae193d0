from __future__ import annotations

from pathlib import Path

from reetrace.store import Store
from tests.builders import BAYAN_OBO, ev, inp, load_registry, out, submit_events


def test_submit_chain(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO)]),
        ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("ORE1", 1000)]),
    ])  # fmt: skip
    assert r.new_events == 2 and not r.late
