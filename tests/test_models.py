"""Rules that hold for one record, and the REO-equivalent conversion."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reetrace.elements import ELEMENTS, METAL_PER_OXIDE, reo_equivalent
from reetrace.models import Event, OutputLine, Registry
from reetrace.store.chain import canonical
from tests.builders import BAYAN_OBO, ev, inp, out
from tests.epcis_helpers import all_types


def errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as err:
        Event.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in err.value.errors()]


def test_metal_basis_converts_element_by_element() -> None:
    # 100 kg of metal at 30% RE metal, 75/25 Nd/Pr: oxide = 22.5/0.8574 + 7.5/0.8277
    reo, per = reo_equivalent(100, re_metal_pct=30, elements={"Nd": 75, "Pr": 25})
    assert per is not None
    assert per["Nd"] == pytest.approx(22.5 / 0.8574) and per["Pr"] == pytest.approx(7.5 / 0.8277)
    assert reo == pytest.approx(22.5 / 0.8574 + 7.5 / 0.8277)


def test_unknown_profile_uses_085() -> None:
    assert reo_equivalent(100, re_metal_pct=85) == (pytest.approx(100.0), None)
    assert reo_equivalent(100, reo_pct=40) == (40.0, None)


@given(
    st.floats(0.001, 1e9),
    st.floats(0.01, 100),
    st.booleans(),
    st.dictionaries(st.sampled_from(ELEMENTS), st.floats(0.01, 100), min_size=1),
)
def test_element_kg_always_add_up_to_the_reo(
    mass: float, pct: float, metal: bool, shares: dict[str, float]
) -> None:
    kw = {"re_metal_pct": pct} if metal else {"reo_pct": pct}
    reo, per = reo_equivalent(mass, elements=shares, **kw)  # type: ignore[arg-type]
    assert per is not None and sum(per.values()) == pytest.approx(reo, rel=1e-9)
    if metal:  # oxide weighs more than its metal, never more than 1/min(factor) times
        metal_kg = mass * pct / 100
        # Two comparisons, each with its own rounding allowance (chained, the scaled middle term cancelled
        # the allowance of the upper bound: a Sc-only profile sits exactly on it).
        assert metal_kg <= reo * (1 + 1e-9)
        assert reo <= metal_kg / min(METAL_PER_OXIDE.values()) * (1 + 1e-9)
    else:
        assert reo == pytest.approx(mass * pct / 100)


@pytest.mark.parametrize(
    ("change", "where", "msg"),
    [
        ({"mass_kg": 0}, "mass_kg", "greater than 0"),
        ({"mass_kg": 2e9}, "mass_kg", "less than or equal"),
        ({"reo_pct": None}, "", "exactly one of reo_pct and re_metal_pct"),
        ({"re_metal_pct": 30}, "", "exactly one"),
        ({"elements": {"Nd": 60, "Pr": 30}}, "elements", "sum to 90"),
        ({"elements": {"Nd": 100.4}}, "elements.Nd", "less than or equal to 100"),
        ({"elements": {"Nd": 50, "Xx": 50}}, "elements.Xx", "Input should be 'La', 'Ce'"),
        ({"elements": None, "form": "oxide"}, "", "elements are required for form 'oxide'"),
        ({"form": "powder"}, "form", "Input should be"),
        ({"lot": "A:"}, "lot", "should match pattern"),  # the CLI words it: see test_ingest
    ],
)
def test_output_line_rules(change: dict[str, Any], where: str, msg: str) -> None:
    line = {**out("X", "concentrate", 100, reo_pct=50, elements=BAYAN_OBO), **change}
    line = {k: v for k, v in line.items() if v is not None}
    with pytest.raises(ValidationError) as err:
        OutputLine.model_validate(line)
    assert any(msg in e["msg"] and where in ".".join(map(str, e["loc"])) for e in err.value.errors()), (
        err.value
    )


def test_element_shares_within_half_a_point_are_accepted() -> None:
    line = OutputLine.model_validate(out("X", "oxide", 1, reo_pct=99, elements={"Nd": 75.3, "Pr": 24.6}))
    assert line.elements == {"Pr": 24.6, "Nd": 75.3}


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        (ev("e", "extract", "A", "S", "2025-03-02"), "needs at least one line in outputs"),
        (ev("e", "ship", "A", "S", "2025-03-02", inputs=[inp("L", 1)]), "needs counterparty"),
        (ev("e", "receive", "A", "S", "2025-03-02", counterparty="B", inputs=[inp("C:L", 1)],
            outputs=[out("L2", "ore", 1, reo_pct=1)]), "not a lot of the sender B"),
        (ev("e", "process", "A", "S", "2025-03-02", process="separation", inputs=[inp("L", 1)],
            outputs=[out("L2", "concentrate", 1, reo_pct=1)]), "every output of a separation needs a profile"),
        (ev("e", "process", "A", "S", "2025-03-02", process="separation", inputs=[inp("L", 1)],
            outputs=[out("L", "ore", 1, reo_pct=1, elements={"La": 100})]), "both input and output"),
        (ev("e", "extract", "A", "S", "2025-03-02", outputs=[out("L", "oxide", 1, reo_pct=1, elements={"La": 100})]),
         "mining yields"),
        (ev("e", "extract", "A", "S", "2025-03-02T10:00:00", outputs=[out("L", "ore", 1, reo_pct=1)]),
         "timezone"),
        (ev("e", "adjust", "A", "S", "2025-03-02", reason="x"), "either inputs (a loss) or outputs"),
        (ev("e", "retract", "A", "S", "2025-03-02", reason="x"), "needs retracts"),
        (ev("e", "import", "A", "S", "2025-03-02", outputs=[out("L", "ore", 1, reo_pct=1)],
            origin={"customs_entry": "E1", "country": "US", "hs_code": "abc"}), "should match pattern"),
        (ev("e", "consume", "A", "S", "2025-03-02", inputs=[inp("B:L", 1)]), "is not a lot of A"),
        (ev("e", "consume", "A", "S", "2025-03-02", inputs=[inp("L", 1)], counterparty="B"),
         "counterparty does not belong on a consume event"),
        (ev("e", "extract", "A", "S", "1999-03-02", outputs=[out("L", "ore", 1, reo_pct=1)]), "before 2000"),
    ],
)  # fmt: skip
def test_event_rules(data: dict[str, Any], msg: str) -> None:
    assert any(msg in m for _, m in errors(data)), errors(data)


def test_registry_rejects_duplicate_keys_and_misplaced_fields() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        Registry.model_validate({"groups": [{"code": "A", "name": "x"}, {"code": "A", "name": "y"}]})
    with pytest.raises(ValidationError, match="only a mine has a mining licence"):
        Registry.model_validate(
            {"sites": [{"code": "S", "enterprise": "E", "kind": "plant", "licence": "L"}]}
        )


# -- the canonical bytes -------------------------------------------------------------------------------

_OFFSETS = st.sampled_from(["Z", "+00:00", "-00:00", "+08:00", "-05:30", "+05:45", "+14:00", "-12:00"])
_FRACTIONS = st.sampled_from(["", ".5", ".000001", ".123456", ".1234567", ",25"])


@given(
    day=st.integers(1, 28),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    second=st.integers(0, 59),
    fraction=_FRACTIONS,
    offset=_OFFSETS,
    mass=st.floats(0.001, 1e9, allow_nan=False, allow_infinity=False),
    share=st.floats(0.0, 100.0, allow_nan=False, allow_infinity=False),
    note=st.one_of(st.none(), st.text(min_size=1, max_size=30)),
)
def test_canonical_bytes_are_the_json_mode_encoding(
    day: int, hour: int, minute: int, second: int, fraction: str, offset: str, mass: float, share: float,
    note: str | None,
) -> None:  # fmt: skip
    """The parser's fast encoding is byte for byte the one the chain defines (every digest and link of
    a stored record depends on it): times of every offset and precision, any mass, notes of any text."""
    when = f"2025-03-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
    data = ev(
        "p1", "process", "SEP", "SEP-P", when, inputs=[inp("C1", mass)],
        outputs=[out("OX1", "oxide", mass, product="NdPr oxide", reo_pct=99.0,
                     elements={"Nd": 100.0 - share, "Pr": share})],
        process="separation", documents={"invoice": "INV-1"},
    )  # fmt: skip
    if note is not None:
        data["note"] = note
    try:
        event = Event.model_validate(data)
    except ValidationError:
        return  # a note of control characters, a profile that rounds away: nothing to encode
    assert event.canonical_bytes() == canonical(event.canonical())


def test_canonical_bytes_of_every_event_type() -> None:
    for event in all_types():
        assert event.canonical_bytes() == canonical(event.canonical()), event.event_id
