"""Every hostile input of ``tests/hostile/corpus.py``, through the library and the CLI, on both
backends: refused with file, line and field and nothing written, or recorded (with the warning the
contract asks for) and ``verify`` passing; never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import reetrace
from reetrace.cli import main
from reetrace.store import Store
from tests.builders import load_registry
from tests.hostile.corpus import CASES, periods_from, run_corpus, table


def test_hostile_corpus(store: Store, db_url: str, tmp_path: Path) -> None:
    load_registry(store)
    outcomes = run_corpus(store, db_url, tmp_path, periods_from("2015-01"))
    bad = [o for o in outcomes if not o.ok]
    assert not bad, "\n\n".join(f"{o.case} [{o.path}] -> {o.result}\n{o.detail[:3000]}" for o in bad)
    assert len(outcomes) == 2 * len(CASES)
    assert "| 0 | 0 |" in table(outcomes)  # no tracebacks, nothing unexpected
    reetrace.verify(store)


def test_a_long_path_is_one_rule_on_both_backends_the_record_keeps_the_base_name(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    load_registry(store)
    deep = tmp_path
    while len(str(deep)) < 520:
        deep = deep / ("d" * 100)
    deep.mkdir(parents=True)
    f = deep / "MINE-2025-03.jsonl"
    f.write_bytes(b"")
    r = CliRunner().invoke(main, ["submit", str(f), "-e", "MINE", "-p", "2025-03", "--db", db_url])
    assert r.exit_code == 0, r.output
    status = reetrace.list_events(store, "MINE", "2025-03")
    assert status == []  # a nil report
    with store.reading() as conn:
        source = conn.exec_driver_sql("SELECT source FROM submissions").scalar_one()
    assert source == "MINE-2025-03.jsonl"
