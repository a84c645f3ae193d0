"""Messages: the library's English texts with their templates, and the workbench's Chinese for them."""

from __future__ import annotations

import ast
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from reetrace.errors import Problem
from reetrace.intake.pydantic_errors import pydantic_reason
from reetrace.messages import M_, Instant, Message, placeholders, reason_of, restore, word, words
from reetrace.models import Event
from reetrace.web import i18n

SRC = Path(__file__).resolve().parent.parent / "src" / "reetrace"

OVERDRAWN = "{lot}: {drawn:.1f} kg drawn from a lot of {mass:.1f} kg (+{excess_pct:.2f}%)"


def test_a_message_is_the_english_text_and_keeps_its_template() -> None:
    m = M_(OVERDRAWN, lot="A:L1", drawn=12345.67, mass=10000.0, excess_pct=23.4567)
    assert m == "A:L1: 12345.7 kg drawn from a lot of 10000.0 kg (+23.46%)"
    assert isinstance(m, str) and m.msgid == OVERDRAWN and m.params["lot"] == "A:L1"
    # Equal, hashed, sorted and joined as its text: stored and compared exactly as before.
    assert hash(m) == hash(str(m)) and sorted([m, "A"])[0] == "A" and f"{m}" == str(m)
    assert Problem(1, "f", m) == Problem(1, "f", str(m))


def test_a_message_round_trips_through_json_and_pickle() -> None:
    inner = M_("{days:.1f} days", days=2.25)
    m = M_(
        "{ent} late by {delay} at {when}",
        ent="E",
        delay=inner,
        when=Instant(datetime(2025, 4, 10, tzinfo=UTC)),
    )
    assert m == "E late by 2.2 days at 2025-04-10T00:00:00+00:00"
    data = m.to_dict()
    assert data == {
        "id": "{ent} late by {delay} at {when}",
        "params": {
            "ent": "E", "delay": {"id": "{days:.1f} days", "params": {"days": 2.25}},
            "when": {"instant": "2025-04-10T00:00:00+00:00"},
        },
    }  # fmt: skip
    back = Message.from_dict(data)
    assert (
        back == m and isinstance(back.params["delay"], Message) and isinstance(back.params["when"], Instant)
    )
    # Problems cross from the parser process in a pipe: the template survives.
    again = pickle.loads(pickle.dumps(Problem(3, "site", m, "f.jsonl")))
    assert isinstance(again.reason, Message) and again.reason.to_dict() == data


def test_restore_gives_the_template_back_only_when_it_still_makes_the_text() -> None:
    m = M_("{ent} is not in the registry", ent="X")
    assert isinstance(restore(str(m), m.to_dict()), Message)
    # A template reworded since the run was saved, no template at all, or garbage: the text as saved.
    assert type(restore("X is not registered", m.to_dict())) is str
    assert type(restore(str(m), None)) is str
    assert type(restore(str(m), {"id": "{nope}", "params": {}})) is str
    assert type(restore(str(m), {"id": 5})) is str


def test_parameters_are_plain_values() -> None:
    with pytest.raises(TypeError, match="bad"):
        M_("{bad}", bad=["a", "b"])  # type: ignore[arg-type]
    assert M_("{x}", x=None) == "None"  # as an f-string wrote it
    # A word from data that holds braces is shown as it is, never taken for a template.
    assert word("{evil}") == "{evil}" and words(["ship", "receive"]) == "ship, receive"


def test_reason_of_keeps_the_message_an_exception_was_raised_with() -> None:
    m = M_("{event_id} is already retracted", event_id="E1")
    assert reason_of(ValueError(m)) is m
    assert type(reason_of(ValueError("plain"))) is str


def test_placeholders_are_names_with_their_specs() -> None:
    assert placeholders(OVERDRAWN) == {("lot", ""), ("drawn", ".1f"), ("mass", ".1f"), ("excess_pct", ".2f")}
    assert placeholders("no fields {{here}}") == set()


def test_say_translates_and_formats_for_the_locale() -> None:
    m = M_(OVERDRAWN, lot="A:L1", drawn=12345.65, mass=10000.0, excess_pct=23.4567)
    # English: the library's text, byte for byte.
    assert i18n.say("en", m) == str(m)
    # Chinese: translated; the digits are the English text's (Python's rounding), grouped for the locale.
    assert i18n.say("zh-CN", m) == f"A:L1：从 10,000.0 kg 的批次中提取了 {12345.65:,.1f} kg（+23.46%）"
    # Signs, nested messages and vocabulary words, instants in Asia/Shanghai with their offset.
    shipped = M_(
        "{lot}: {sender} shipped {ship_kg:.1f} kg, {receiver} received {recv_kg:.1f} kg ({diff_pct:+.2f}%)",
        lot="A:L", sender="A", ship_kg=2000.0, receiver="B", recv_kg=1900.0, diff_pct=-5.0,
    )  # fmt: skip
    assert i18n.say("zh-CN", shipped) == "A:L：A 发运 2,000.0 kg，B 接收 1,900.0 kg（-5.00%）"
    late = M_(
        "{ent} {period}: received {delay} after the deadline{given}",
        ent="E", period="2025-03", delay=M_("{days:.1f} days", days=1.5),
        given=M_(" (receipt time given by a historical load)"),
    )  # fmt: skip
    assert (
        i18n.say("zh-CN", late) == "E 2025-03：报送在截止时间过后 1.5 天才收到（接收时间由历史数据补录给定）"
    )
    due = M_(
        "{ent} has not reported {period} (due {deadline})",
        ent="E", period="2025-03", deadline=Instant(datetime(2025, 4, 10, 15, 59, 59, tzinfo=UTC)),
    )  # fmt: skip
    assert due == "E has not reported 2025-03 (due 2025-04-10T15:59:59+00:00)"
    assert i18n.say("zh-CN", due) == "E 未报送 2025-03（截止时间 2025-04-10 23:59 +08:00）"
    assert i18n.say("zh-CN", words(["receive", "ship"])) == "接收, 发运"
    # Integers without a spec are identifiers (positions, years, lines): never grouped.
    assert (
        i18n.say("zh-CN", M_("{event_id} repeats line {line}", event_id="E", line=12345))
        == "E 与第 12345 行重复"
    )


def test_say_falls_back_to_the_english_text() -> None:
    assert i18n.say("zh-CN", "a plain string") == "a plain string"
    assert i18n.say("zh-CN", None) == ""
    # A template the catalog does not have: its words in English, its parameters still for the locale.
    assert i18n.say("zh-CN", Message("{what} happened", {"what": word("ship")})) == "发运 happened"
    assert i18n.say("zh-CN", word("")) == ""


def test_pydantic_errors_become_messages_only_when_they_make_pydantics_text() -> None:
    bad = {"event_id": "E1", "type": "dig", "enterprise": "A B", "site": 5, "occurred_at": "2025-03-02T10:00:00",
           "outputs": [{"lot": "L", "product": "p", "form": "ore", "mass_kg": -1, "reo_pct": 50}]}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        Event.model_validate(bad)
    errors = info.value.errors(include_url=False)
    reasons = {tuple(e["loc"]): pydantic_reason(e) for e in errors}
    for e in errors:  # the English text is the one pydantic (or our friendlier words) gave before
        assert reasons[tuple(e["loc"])] == e["msg"] or e["type"] == "string_pattern_mismatch"
    assert all(isinstance(r, Message) for r in reasons.values()), reasons
    assert i18n.say("zh-CN", reasons[("outputs", 0, "mass_kg")]) == "应大于 0"
    assert i18n.say("zh-CN", reasons[("enterprise",)]) == "企业代码中不能有冒号或空白字符（实际为 'A B'）"
    # Our own validators' messages come through pydantic's context.
    with pytest.raises(ValidationError) as info:
        Event.model_validate({**bad, "type": "extract", "enterprise": "A", "site": None,
                              "occurred_at": "2025-03-02T10:00:00+08:00",
                              "outputs": [{"lot": "L", "product": "p", "form": "ore", "mass_kg": 9, "reo_pct": 5}]})  # fmt: skip
    (only,) = info.value.errors(include_url=False)
    assert pydantic_reason(only) == "a extract event needs site"
    assert i18n.say("zh-CN", pydantic_reason(only)) == "开采事件需要 site"
    # A text pydantic words differently from our template, or a type we do not list: pydantic's text.
    assert (
        type(pydantic_reason({"type": "greater_than", "msg": "Input must exceed 0", "ctx": {"gt": 0}})) is str
    )
    assert pydantic_reason({"type": "no_such_type", "msg": "Whatever", "ctx": {}}) == "Whatever"


def test_every_marked_template_is_extracted_for_the_catalog() -> None:
    """Babel's Python extractor can lose a call silently (a keyword's name used as a variable inside
    it): every literal ``M_``/``N_`` template in the library must reach the catalog test."""
    used = set(i18n.messages_in_use())
    marked = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("M_", "N_")
            ):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    marked.append((f"{path.relative_to(SRC)}:{node.lineno}", first.value))
    assert len(marked) > 150
    assert [m for m in marked if m[1] not in used] == []
