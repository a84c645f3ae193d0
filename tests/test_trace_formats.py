"""Every output of `reetrace trace` parses: JSON, DOT, GraphML, SVG, PNG; and the CLI around them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import networkx as nx
import orjson
import pydot
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from reetrace.cli import main
from reetrace.store import Store
from reetrace.trace import BackTrace, ForwardTrace, trace_back, trace_forward
from reetrace.trace.graph import as_graph, to_dot, to_graphml
from reetrace.trace.picture import render_picture
from tests.builders import Chain, magnet_chain


@pytest.fixture
def traced(store: Store, tmp_path: Path) -> tuple[Store, BackTrace, ForwardTrace]:
    c = Chain(store, tmp_path)
    magnet_chain(c)
    c.submit()
    with store.reading() as conn:
        return store, trace_back(conn, "MAG:MAG1"), trace_forward(conn, "MINE:ORE1")


def test_json_shape(traced: tuple[Store, BackTrace, ForwardTrace]) -> None:
    _, back, fwd = traced
    doc = orjson.loads(orjson.dumps(back.to_dict()))
    assert doc["lot"] == "MAG:MAG1" and doc["direction"] == "back"
    assert {o["kind"] for o in doc["origins"]} == {"mine", "import"}
    for o in doc["origins"]:
        assert set(o) >= {"kind", "id", "share", "element_shares"}
        assert set(o["element_shares"]) == {"Pr", "Nd", "Dy"}
    assert sum(o["share"] for o in doc["origins"]) == pytest.approx(1.0)
    assert [p["site"] for p in doc["separation_plants"]] == ["SEP-P"]
    assert len(doc["nodes"]) == len(back.nodes) and len(doc["edges"]) == len(back.edges)
    assert {e["src"] for e in doc["edges"]} <= {n["lot"] for n in doc["nodes"]}
    fdoc = orjson.loads(orjson.dumps(fwd.to_dict()))
    assert fdoc["direction"] == "forward" and fdoc["lot"] == "MINE:ORE1"
    assert sum(e["reo_kg"] for e in fdoc["ended"]) == pytest.approx(fdoc["reo_kg"], rel=1e-6)


# pydot's parser still calls pyparsing's pre-3.0 names; that is theirs, not ours.
@pytest.mark.filterwarnings("ignore:'.*' deprecated - use '.*':DeprecationWarning")
@pytest.mark.parametrize("which", ["back", "forward"])
def test_dot_and_graphml_parse(traced: tuple[Store, BackTrace, ForwardTrace], which: str) -> None:
    _, back, fwd = traced
    result = back if which == "back" else fwd
    g = as_graph(result)
    (dot,) = pydot.graph_from_dot_data(to_dot(g))
    names = {n.get_name().strip('"') for n in dot.get_nodes()} - {"node", "edge"}
    assert names == set(g.nodes)
    assert len(dot.get_edges()) == g.number_of_edges()
    root = dot.get_node(f'"{result.lot}"')[0]
    assert root.get("kind").strip('"') == "root"
    parsed = nx.read_graphml(BytesIO(to_graphml(g).encode()))
    assert set(parsed.nodes) == set(g.nodes) and parsed.number_of_edges() == g.number_of_edges()
    if which == "back":
        assert parsed.nodes["MINE:ORE1"]["kind"] == "mine"
        assert parsed.nodes["IMP:DY"]["origin_id"] == "CE-2"
        assert parsed.edges["MAG:M1", "MAG:MAG1"]["mass_kg"] == 100.0


def test_pictures(traced: tuple[Store, BackTrace, ForwardTrace], tmp_path: Path) -> None:
    _, back, fwd = traced
    svg = BytesIO()
    render_picture(back, svg, "svg")
    tree = ET.fromstring(svg.getvalue())
    assert tree.tag.endswith("svg")
    text = svg.getvalue().decode()
    assert "MAG:MAG1" in text and "MINE BO" in text and "separated at SEP-P" in text
    png = tmp_path / "fwd.png"
    render_picture(fwd, str(png), "png")
    img = imread(str(png))
    assert img.shape[0] > 200 and img.shape[1] > 400
    with pytest.raises(ValueError, match="svg or png"):
        render_picture(back, BytesIO(), "gif")


def test_picture_of_a_large_trace_is_cut(traced: tuple[Store, BackTrace, ForwardTrace]) -> None:
    _, back, _ = traced
    svg = BytesIO()
    render_picture(back, svg, "svg", max_nodes=4)
    text = svg.getvalue().decode()
    assert f"showing 4 of {len(back.nodes)} nodes" in text and "not shown" in text


def test_picture_of_a_cut_trace_is_the_same_in_every_process(
    traced: tuple[Store, BackTrace, ForwardTrace], tmp_path: Path
) -> None:
    """String hashing differs between processes (PYTHONHASHSEED); the lots kept must not move with it
    (``trace --server`` draws in the service's process and must write the local command's bytes)."""
    import os
    import subprocess
    import sys

    store, back, _ = traced
    assert len(back.nodes) > 4
    pictures = set()
    for seed in ("1", "2", "3"):
        out = tmp_path / f"cut-{seed}.svg"
        cli = "from reetrace.cli import main; main()"
        args = ["-c", cli, "trace", "MAG:MAG1", "--format", "svg", "--max-nodes", "4", "-o", str(out)]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = subprocess.run(
            [sys.executable, *args, "--db", store.url], env=env, capture_output=True, timeout=300
        )
        assert r.returncode == 0, r.stderr.decode()
        pictures.add(out.read_bytes())
    assert len(pictures) == 1


def test_cli(traced: tuple[Store, BackTrace, ForwardTrace], tmp_path: Path) -> None:
    store, _, _ = traced
    run = CliRunner().invoke
    db = ["--db", store.url]
    r = run(main, ["trace", "MAG:MAG1", *db])
    assert r.exit_code == 0, r.output
    assert "import" in r.output and "CE-2" in r.output and "SEP-P" in r.output
    r = run(main, ["trace", "MAG:MAG1", "--json", "--no-findings", *db])
    assert r.exit_code == 0, r.output
    doc = orjson.loads(r.output)
    assert doc["lot"] == "MAG:MAG1" and doc["findings"] == []
    r = run(main, ["trace", "MINE:ORE1", "--forward", "--format", "json", *db])
    assert r.exit_code == 0 and orjson.loads(r.output)["direction"] == "forward"
    for fmt in ("dot", "graphml"):
        r = run(main, ["trace", "MAG:MAG1", "--format", fmt, *db])
        assert r.exit_code == 0 and "MAG:MAG1" in r.output
    out = tmp_path / "m.png"
    r = run(main, ["trace", "MAG:MAG1", "--format", "png", "-o", str(out), *db])
    assert r.exit_code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run(main, ["trace", "MAG:MAG1", "--format", "svg", *db])
    assert r.exit_code == 2 and "--output" in r.output
    r = run(main, ["trace", "NOBODY:X", *db])
    assert r.exit_code == 1 and "no lot NOBODY:X" in r.output
    r = run(main, ["trace", "--help"])
    assert "Example:" in r.output
