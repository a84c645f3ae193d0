"""The workbench's parts that need no server: languages, formatting, the trace SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from reetrace.messages import placeholders
from reetrace.trace.result import BackTrace, Edge, Node, Origin
from reetrace.web import i18n
from reetrace.web.session import csrf_ok, csrf_token, safe_next
from reetrace.web.svg import lot_href, render_svg

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    zh = i18n.translations("zh-CN")
    used = set(i18n.messages_in_use())
    assert len(used) > 100
    # The library's message templates are found too (reetrace.messages: M_ and N_).
    assert "{lot}: {drawn:.1f} kg drawn from a lot of {mass:.1f} kg (+{excess_pct:.2f}%)" in used
    for msg in used:
        text = zh.gettext(msg)
        assert (text and text != msg) or msg in {"REO"}, f"no zh-CN translation for {msg!r}"
        assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(msg)), msg
        # str.format templates: the same fields with the same format specs.
        assert placeholders(text) == placeholders(msg), msg


def test_language_negotiation() -> None:
    assert i18n.negotiate(None, None) == "zh-CN"
    assert i18n.negotiate(None, "en-US,en;q=0.9") == "en"
    assert i18n.negotiate(None, "zh-TW,zh;q=0.9,en;q=0.5") == "zh-CN"
    assert i18n.negotiate(None, "fr-FR,en;q=0.4") == "en"
    assert i18n.negotiate(None, "fr-FR") == "zh-CN"
    assert i18n.negotiate("en", "zh-CN") == "en"  # the switch wins
    assert i18n.negotiate("xx", "en") == "en"  # a forged cookie is ignored
    assert i18n.negotiate(None, "en;q=abc, zh;q=0.2") == "zh-CN"


def test_times_are_shown_in_shanghai_with_their_offset_and_numbers_for_the_locale() -> None:
    when = datetime(2025, 4, 9, 17, 0, tzinfo=UTC)
    for lang in ("zh-CN", "en"):
        f = i18n.Formatter(lang)
        assert f.dt(when) == "2025-04-10 01:00 +08:00"
        assert f.dt(when.isoformat()) == "2025-04-10 01:00 +08:00"
        assert f.num(1234567.891, 1) == "1,234,567.9"
        assert f.kg(16_200) == "16.2 t" and f.kg(414) == "414 kg"
        assert f.pct(0.0625) == "6.3%" or f.pct(0.0625) == "6.2%"


def _trace() -> BackTrace:
    evil = 'EVIL:<script>alert("x")</script>'
    nodes = [
        Node("MAG:M1", "magnet", "magnet", 1000.0, 300.0, None, 0, 1.0),
        Node("MET:X", "metal", "metal", 280.0, 270.0, None, 1, 0.9),
        Node(evil, "ore & co", "ore", 500.0, 30.0, None, 1, 0.1, origin=("unexplained", evil)),
        Node("MINE:O1", "ore", "ore", 900.0, 270.0, None, 2, 0.9, origin=("mine", "BO")),
    ]
    edges = [
        Edge("MET:X", "MAG:M1", 9, "process", "magnet_making", 280.0, 270.0, 0.9, 0.9),
        Edge(evil, "MAG:M1", 9, "process", "magnet_making", 100.0, 30.0, 0.1, 0.1),
        Edge("MINE:O1", "MET:X", 5, "receive", None, 280.0, 270.0, 1.0, 0.9),
    ]
    origins = [
        Origin("mine", "BO", 0.9, None, False, ["MINE:O1"]),
        Origin("unexplained", evil, 0.1, None, False, [evil]),
    ]
    return BackTrace("MAG:M1", 300.0, None, origins, [], ["MAG", "MET", "MINE"], nodes, edges, False, False)


def test_the_trace_svg_links_every_node_and_escapes_every_value() -> None:
    svg = render_svg(_trace())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for lot in ("MAG:M1", "MET:X", "MINE:O1"):
        assert f'href="{lot_href(lot)}"' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert lot_href("A/B:C D") == "/lots/A%2FB%3AC%20D"
    assert svg.count("<a ") == 4 and svg.count("<path") == 3


def test_large_traces_keep_the_traced_lot_and_say_what_they_left_out() -> None:
    svg = render_svg(_trace(), max_nodes=2)
    assert 'data-lot="MAG:M1"' in svg and 'data-lot="MET:X"' in svg
    assert "+2 smaller lots not drawn" in svg


def test_csrf_tokens_and_redirect_targets() -> None:
    tok = csrf_token("rt_abc_secret")
    assert csrf_ok("rt_abc_secret", tok) and not csrf_ok("rt_abc_other", tok)
    assert not csrf_ok(None, tok) and not csrf_ok("rt_abc_secret", "")
    assert safe_next("/lots/A%3AB") == "/lots/A%3AB"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil", "", None):
        assert safe_next(bad) == "/"
