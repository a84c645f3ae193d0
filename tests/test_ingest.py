"""Reading files: both formats, compression, encodings, errors by line and field, round trips."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reetrace.elements import ELEMENTS
from reetrace.intake.files import detect_format, open_source, read_events, write_csv
from reetrace.models import Event
from tests.builders import BAYAN_OBO, ev, inp, out


def parse(data: bytes, fmt: str = "jsonl") -> list[Any]:
    return list(read_events(io.BytesIO(data), fmt, "f"))  # type: ignore[arg-type]


SEP = ev("s1", "process", "SEP", "SEP-P", "2025-03-04", process="separation",
         inputs=[inp("FEED", 1000)],
         outputs=[out("PRND", "oxide", 100, reo_pct=99, elements={"Pr": 25, "Nd": 75}),
                  out("LA", "oxide", 200, reo_pct=99, elements={"La": 100})],
         documents={"batch_record": "BR-7"})  # fmt: skip


def test_jsonl_and_csv_give_the_same_event(tmp_path: Path) -> None:
    [j] = parse(orjson.dumps(SEP) + b"\n")
    buf = io.StringIO()
    write_csv([SEP], buf)
    [c] = parse(buf.getvalue().encode(), "csv")
    assert j.event is not None and j.event == c.event
    assert j.event.inputs[0].lot == "SEP:FEED"  # bare codes are the reporter's own lots


def test_csv_errors_point_at_the_row_and_column() -> None:
    buf = io.StringIO()
    write_csv([SEP], buf)
    lines = buf.getvalue().splitlines()
    lines[3] = lines[3].replace(",100,", ",-3,")  # the PRND output's mass (line 3 of the file is the LA row)
    lines[2] = lines[2].replace(",99,", ",abc,", 1)
    [rec] = parse(("\n".join(lines) + "\n").encode(), "csv")
    assert rec.event is None
    got = {(p.line, p.field) for p in rec.problems}
    assert (3, "reo_pct") in got


def test_csv_rows_of_one_event_must_agree_on_the_header() -> None:
    buf = io.StringIO()
    write_csv([SEP], buf)
    lines = buf.getvalue().splitlines()
    lines[3] = lines[3].replace("SEP-P", "OTHER")
    [rec] = parse(("\n".join(lines) + "\n").encode(), "csv")
    assert [(p.line, p.field) for p in rec.problems] == [(4, "site")]


def test_csv_header_problems() -> None:
    [rec] = parse(b"event_id,type,colour\n1,extract,red\n", "csv")
    fields = sorted(p.field for p in rec.problems)
    assert "colour" in fields and "role" in fields and "mass_kg" in fields


def test_bad_json_and_encodings() -> None:
    recs = parse(b'{"event_id": "x"\n' + b"\xff\xfe{}\n" + b"[1,2]\n")
    assert [r.line for r in recs] == [1, 2, 3]
    assert "not UTF-8" in recs[1].problems[0].reason
    assert "one JSON object" in recs[2].problems[0].reason
    [u16] = parse("\ufeff{}".encode("utf-16"))
    assert "UTF-16" in u16.problems[0].reason


def test_blank_lines_are_skipped_and_a_bom_is_tolerated() -> None:
    data = b"\xef\xbb\xbf" + orjson.dumps(SEP) + b"\n\n   \n"
    [rec] = parse(data)
    assert rec.event is not None and rec.line == 1


def test_gzip_is_recognised_by_content(tmp_path: Path) -> None:
    path = tmp_path / "flows.data"
    path.write_bytes(gzip.compress(orjson.dumps(SEP) + b"\n"))
    with open_source(str(path)) as stream:
        [rec] = read_events(stream, "jsonl")
    assert rec.event is not None


def test_format_from_the_name() -> None:
    assert detect_format("a.csv.gz", None) == "csv"
    assert detect_format("a.jsonl", None) == "jsonl"
    assert detect_format("-", None) == "jsonl"
    assert detect_format("a.txt", "csv") == "csv"
    with pytest.raises(ValueError, match="--format"):
        detect_format("a.txt", None)


# -- property: any valid event survives both formats ------------------------------------------------

shares = st.dictionaries(st.sampled_from(ELEMENTS), st.integers(1, 50), min_size=1, max_size=5).map(
    lambda d: {k: v * 100 / sum(d.values()) for k, v in d.items()}
)
codes = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12)
masses = st.floats(min_value=0.001, max_value=1e8, allow_nan=False)
notes = st.characters(exclude_categories=("Cc", "Cs"))  # control characters are refused (hostile tests)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3))
    ins = [inp(f"I{i}{draw(codes)}", draw(masses)) for i in range(n_in)]
    outs = []
    for i in range(n_out):
        metal = draw(st.booleans())
        outs.append(out(
            f"O{i}{draw(codes)}", "metal" if metal else "oxide", draw(masses),
            product=draw(st.sampled_from(["PrNd", "La oxide", "Dy-Fe, alloy", 'quoted "x"'])),
            reo_pct=None if metal else draw(st.floats(0.01, 100)),
            re_metal_pct=draw(st.floats(0.01, 100)) if metal else None,
            elements=draw(shares),
        ))  # fmt: skip
    day = draw(st.integers(1, 28))
    return ev(draw(codes), "process", "ENT", draw(codes), f"2025-03-{day:02d}",
              process=draw(st.sampled_from(["separation", "metal_smelting", "alloying"])),
              inputs=ins, outputs=outs, note=draw(st.none() | st.text(notes, max_size=30)))  # fmt: skip


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=4, unique_by=lambda e: e["event_id"]))
def test_round_trip_jsonl_and_csv(evs: list[dict[str, Any]]) -> None:
    want = [Event.model_validate(e) for e in evs]
    canon = [w.canonical() for w in want]
    via_jsonl = [r.event for r in parse(b"".join(orjson.dumps(c) + b"\n" for c in canon))]
    buf = io.StringIO()
    write_csv(canon, buf)
    via_csv = [r.event for r in parse(buf.getvalue().encode(), "csv")]
    assert via_jsonl == want
    assert [e.canonical() if e else None for e in via_csv] == canon


def test_bayan_obo_fixture_is_a_valid_profile() -> None:
    assert abs(sum(BAYAN_OBO.values()) - 100) < 0.5


def test_pattern_errors_are_worded_for_people() -> None:
    bad = {**SEP, "inputs": [inp("A B:FEED", 10)]}
    [rec] = parse(orjson.dumps(bad) + b"\n")
    [p] = rec.problems
    assert (p.field, p.reason) == (
        "inputs[0].lot",
        "a lot is LOT (your own) or ENT:LOT, both parts non-empty, no space in ENT (got 'A B:FEED')",
    )
