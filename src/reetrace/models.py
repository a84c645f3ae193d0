"""The contract: registry records and flow events (docs/contract/identities.md,
events.md) as pydantic models.

Everything that can be checked on one record alone is checked here; rules that need other records
(lots that must exist, output lots that must be new, cycles, the registry) live in
:mod:`reetrace.intake`. Lot references are normalised to ``ENT:LOT``: a bare code in a lot line means
a lot of the reporting enterprise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from reetrace.elements import SHARE_SUM_TOLERANCE, reo_equivalent
from reetrace.messages import M_, N_, Message, word
from reetrace.text import free_text, identifier, note_text

#: One lot line above this gross mass is absurd (a million tonnes: a year of Bayan Obo ore is ~10 Mt).
MAX_LOT_KG = 1e9
#: One lot line below this is a typing mistake (or a unit mistake): one gram.
MIN_LOT_KG = 0.001
#: Timestamps before this are certainly typing mistakes: product-flow traceability began in the 2010s.
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
#: ...and timestamps from here on are too (it also keeps every time inside what both databases store).
LATEST = datetime.fromisoformat("2101-01-01T00:00:00+00:00")
#: A lot reference ``ENT:LOT`` as stored (after a bare code is prefixed with the reporter).
MAX_LOT_REF = 130
#: Entries of an event's ``documents``.
MAX_DOCUMENTS = 32


def _within(n: int, rule: Callable[[str], str]) -> Any:
    """``rule`` (an identifier rule), then the length re-checked after NFC normalisation (which may
    change it), as one validator: this runs for every code of every record, and each Python validator
    is a call out of pydantic-core."""

    def check(v: str) -> str:
        v = rule(v)
        if len(v) > n:
            # pydantic's own words for the same error (see reetrace.intake.pydantic_errors)
            raise ValueError(
                Message(N_("String should have at most {max_length} characters"), {"max_length": n})
            )
        return v

    return AfterValidator(check)


Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _within(64, identifier)
]
EnterpriseCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^:\s]+$"),
    _within(64, identifier),
]
EventId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), _within(128, identifier)
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(free_text)
]


# Numbers are strict: JSON ``"1000"`` or ``true`` is not a mass (an integer is).
def _at_least_a_gram(v: float) -> float:
    if v < MIN_LOT_KG:
        raise ValueError(
            M_("{kg:g} kg is under 1 g ({min_kg} kg): masses are in kg", kg=v, min_kg=str(MIN_LOT_KG))
        )
    return v


Mass = Annotated[
    float, Field(strict=True, gt=0, le=MAX_LOT_KG, allow_inf_nan=False), AfterValidator(_at_least_a_gram)
]
Percent = Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False)]

Form = Literal[
    "ore", "concentrate", "mixed_compound", "oxide", "metal", "alloy", "magnet", "scrap"
]  # fmt: skip
Role = Literal[
    "mining", "separation", "metal_smelting", "magnet_making", "recycling",
    "trading", "import", "export", "end_use",
]  # fmt: skip
ProcessKind = Literal[
    "beneficiation", "separation", "metal_smelting", "alloying", "magnet_making", "recycling"
]
EventType = Literal[
    "extract", "import", "process", "ship", "receive", "export", "consume", "adjust", "retract"
]

#: Forms whose lines must carry an element profile (docs/contract/events.md).
PROFILE_REQUIRED_FORMS = frozenset({"oxide", "metal", "alloy", "magnet"})
MINED_FORMS = frozenset({"ore", "concentrate", "mixed_compound"})


def sane_time(v: datetime) -> datetime:
    """An aware time inside [EARLIEST, LATEST), or ValueError (never OverflowError, whatever the offset)."""
    if v.year < EARLIEST.year - 1 or (v.year <= EARLIEST.year and v < EARLIEST):
        raise ValueError(M_("{time} is before {earliest}", time=v.isoformat(), earliest=str(EARLIEST.date())))
    if v.year > LATEST.year or v >= LATEST:
        raise ValueError(M_("{time} is after {year}-12-31 (UTC)", time=v.isoformat(), year=LATEST.year - 1))
    return v


def lot_ref(v: str) -> str:
    """Identifier rules for each part of ``ENT:LOT`` alone (a bare ``LOT`` is later prefixed, and must
    stay valid once it is)."""
    if v.isascii() and v.isprintable():
        return v  # what the parts give back, rejoined (the path of almost every lot line)
    ent, sep, code = v.partition(":")
    if not sep:
        return identifier(v)
    return f"{identifier(ent)}:{identifier(code)}"


def split_lot(ref: str, reporter: str) -> tuple[str, str]:
    """``"ENT:LOT"`` -> ``("ENT", "LOT")``; a bare ``"LOT"`` belongs to the reporter."""
    ent, sep, code = ref.partition(":")
    if not sep:
        return reporter, ref
    return ent, code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------------
# Lot lines


#: ``LOT`` (the reporter's own) or ``ENT:LOT``: both parts non-empty, no space or colon in ENT. Checked
#: by pydantic-core's regex engine rather than a Python validator: this runs for every lot line.
LotRef = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_LOT_REF, pattern=r"^(?:[^:]+|[^:\s]+:.+)$"
    ),
    # NFC may lengthen a code (composition exclusions): the column must hold it
    _within(MAX_LOT_REF, lot_ref),
]
Element = Literal[
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Y", "Sc"
]  # fmt: skip
Share = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]


class InputLine(_Strict):
    """How much of an existing lot an event draws."""

    lot: LotRef
    mass_kg: Mass


class OutputLine(_Strict):
    """A lot created by an event, with its rare earth content.

    ``from`` (``from_`` in Python, a keyword there) names the input lot a ``receive`` output comes from
    (docs/contract/events.md, "receive: pairs, never a blend"); it belongs on receive outputs only.
    """

    lot: LotRef
    from_: LotRef | None = Field(default=None, alias="from")
    product: Text
    form: Form
    mass_kg: Mass
    reo_pct: Percent | None = None
    re_metal_pct: Percent | None = None
    elements: dict[Element, Share] | None = None

    @field_validator("elements")
    @classmethod
    def _shares(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return None
        total = sum(v.values())
        if abs(total - 100.0) > SHARE_SUM_TOLERANCE:
            raise ValueError(
                M_(
                    "element shares sum to {total:g}, not 100 ± {tolerance:g}",
                    total=total,
                    tolerance=SHARE_SUM_TOLERANCE,
                )
            )
        # Zero shares carry no information: drop them so the canonical form has one spelling.
        if 0 in v.values():
            return {el: x for el, x in v.items() if x > 0}
        return v

    @model_validator(mode="after")
    def _content(self) -> OutputLine:
        if (self.reo_pct is None) == (self.re_metal_pct is None):
            raise ValueError(M_("give exactly one of reo_pct and re_metal_pct"))
        if self.form in PROFILE_REQUIRED_FORMS and not self.elements:
            raise ValueError(M_("elements are required for form {form}", form=repr(self.form)))
        return self

    def reo(self) -> tuple[float, dict[str, float] | None]:
        """REO-equivalent kg of this line, and per element when the profile is known."""
        els = cast("dict[str, float] | None", self.elements)  # Element keys are str
        return reo_equivalent(
            self.mass_kg, reo_pct=self.reo_pct, re_metal_pct=self.re_metal_pct, elements=els
        )


# --------------------------------------------------------------------------------------------------
# Events


class CustomsOrigin(_Strict):
    """Where an imported lot entered the country (an ``import`` event's ``origin`` field)."""

    customs_entry: Code
    country: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64), AfterValidator(free_text)
    ]
    hs_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}(\.?\d{2}){0,3}$")]


class Destination(_Strict):
    country: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64), AfterValidator(free_text)
    ]
    customs_entry: Code


_SIDES: dict[str, tuple[str, str]] = {
    # type: (inputs, outputs) where "none" forbids, "some" requires at least one, "any" allows either.
    "extract": ("none", "some"),
    "import": ("none", "some"),
    "process": ("some", "some"),
    "ship": ("some", "none"),
    "receive": ("some", "some"),
    "export": ("some", "none"),
    "consume": ("some", "none"),
    "adjust": ("any", "any"),
    "retract": ("none", "none"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "extract": ("site",),
    "import": ("site", "origin"),
    "process": ("site", "process"),
    "ship": ("site", "counterparty"),
    "receive": ("site", "counterparty"),
    "export": ("site", "destination"),
    "consume": ("site",),
    "adjust": ("site", "reason"),
    "retract": ("retracts", "reason"),
}
_ALLOWED_EXTRA: dict[str, frozenset[str]] = {
    "extract": frozenset(),
    "import": frozenset({"origin"}),
    "process": frozenset({"process", "counterparty"}),
    "ship": frozenset({"counterparty"}),
    "receive": frozenset({"counterparty"}),
    "export": frozenset({"destination", "counterparty"}),
    "consume": frozenset(),
    "adjust": frozenset({"reason"}),
    "retract": frozenset({"retracts", "reason"}),
}
_EXTRA_FIELDS = ("origin", "process", "counterparty", "destination", "reason", "retracts")


class Event(_Strict):
    """One reported movement of rare earth product: a record of the append-only log.

    ``process`` with a ``counterparty`` is toll processing (the reporter processes another enterprise's
    material); it is recorded, and the audit reports it as an unauthorised actor.
    """

    event_id: EventId
    type: EventType
    enterprise: EnterpriseCode
    site: Code | None = None
    occurred_at: AwareDatetime
    inputs: list[InputLine] = Field(default_factory=list, max_length=10_000)
    outputs: list[OutputLine] = Field(default_factory=list, max_length=10_000)
    documents: Annotated[dict[Code, Code], Field(max_length=MAX_DOCUMENTS)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000), AfterValidator(note_text)] | None = None
    origin: CustomsOrigin | None = None
    process: ProcessKind | None = None
    counterparty: EnterpriseCode | None = None
    destination: Destination | None = None
    reason: Text | None = None
    retracts: EventId | None = None

    @field_validator("note")
    @classmethod
    def _blank_note(cls, v: str | None) -> str | None:
        # A blank note carries nothing, and CSV cannot tell it from an absent one.
        return v or None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _time_as_text(cls, v: Any) -> Any:
        # A JSON number would be read as Unix seconds: a time is ISO 8601 text (or a datetime).
        if not isinstance(v, str | datetime):
            raise ValueError(
                M_("give the time as ISO 8601 text with an offset, e.g. 2025-03-02T10:00:00+08:00")
            )
        return v

    @field_validator("occurred_at")
    @classmethod
    def _sane_time(cls, v: datetime) -> datetime:
        return sane_time(v)

    @model_validator(mode="after")
    def _per_type(self) -> Event:
        own = self.enterprise
        # Bare lot codes are the reporter's own lots: spell them ENT:LOT once, here, so that the
        # canonical encoding and every later comparison see one spelling. The lines are fresh objects
        # of this validation, so setting the field in place (past ``frozen``) is safe and cheap.
        lines: list[tuple[str, int, InputLine | OutputLine]] = [
            *(("inputs", i, x) for i, x in enumerate(self.inputs)),
            *(("outputs", i, x) for i, x in enumerate(self.outputs)),
        ]
        for side, i, line in lines:
            if ":" not in line.lot:
                object.__setattr__(line, "lot", f"{own}:{line.lot}")
                if len(line.lot) > MAX_LOT_REF:
                    # The limit holds for the stored ENT:LOT, so that the record re-validates as stored.
                    raise ValueError(
                        M_("{side}[{i}].lot is {length} characters as {own}:LOT, over {limit}",
                           side=side, i=i, length=len(line.lot), own=own, limit=MAX_LOT_REF)
                    )  # fmt: skip
        etype = self.type
        ins, outs = _SIDES[etype]
        for side, rule in (("inputs", ins), ("outputs", outs)):
            n = len(getattr(self, side))
            if rule == "none" and n:
                raise ValueError(M_("a {type} event has no {side}", type=word(etype), side=side))
            if rule == "some" and not n:
                raise ValueError(
                    M_("a {type} event needs at least one line in {side}", type=word(etype), side=side)
                )
        if etype == "adjust" and bool(self.inputs) == bool(self.outputs):
            raise ValueError(M_("an adjust event has either inputs (a loss) or outputs (a gain)"))
        for name in _REQUIRED[etype]:
            if getattr(self, name) is None:
                raise ValueError(M_("a {type} event needs {field}", type=word(etype), field=name))
        for name in _EXTRA_FIELDS:
            if getattr(self, name) is not None and name not in _ALLOWED_EXTRA[etype]:
                raise ValueError(
                    M_("{field} does not belong on a {type} event", field=name, type=word(etype))
                )
        for i, line in enumerate(self.outputs):
            if line.lot.partition(":")[0] != own:
                raise ValueError(
                    M_(
                        "outputs[{i}].lot {lot} is not a lot of {own}: outputs are own lots",
                        i=i,
                        lot=line.lot,
                        own=own,
                    )
                )
        if etype == "receive":
            for i, in_line in enumerate(self.inputs):
                if in_line.lot.partition(":")[0] != self.counterparty:
                    raise ValueError(
                        M_("inputs[{i}].lot {lot} is not a lot of the sender {sender}",
                           i=i, lot=in_line.lot, sender=self.counterparty)
                    )  # fmt: skip
        elif etype == "process" and self.counterparty is not None:
            pass  # toll processing: inputs belong to the counterparty (an audit finding, not an error)
        else:
            for i, in_line in enumerate(self.inputs):
                if in_line.lot.partition(":")[0] != own:
                    raise ValueError(
                        M_("inputs[{i}].lot {lot} is not a lot of {own}", i=i, lot=in_line.lot, own=own)
                    )
        if etype in ("extract",):
            for i, line in enumerate(self.outputs):
                if line.form not in MINED_FORMS:
                    raise ValueError(
                        M_("outputs[{i}].form {form}: mining yields ore, concentrate or mixed_compound",
                           i=i, form=repr(line.form))
                    )  # fmt: skip
        if etype == "process" and self.process == "separation":
            for i, line in enumerate(self.outputs):
                if not line.elements:
                    raise ValueError(
                        M_("outputs[{i}].elements: every output of a separation needs a profile", i=i)
                    )
        lots_in = [line.lot for line in self.inputs]
        lots_out = [line.lot for line in self.outputs]
        if len(set(lots_out)) != len(lots_out):
            raise ValueError(M_("an output lot is listed twice"))
        if len(set(lots_in)) != len(lots_in):
            raise ValueError(M_("an input lot is listed twice"))
        both = set(lots_in) & set(lots_out)
        if both:
            raise ValueError(M_("lot {lot} is both input and output: that is a cycle", lot=sorted(both)[0]))
        if self.retracts is not None and self.retracts == self.event_id:
            raise ValueError(M_("an event cannot retract itself"))
        return self

    @model_validator(mode="after")
    def _pairs(self, info: ValidationInfo) -> Event:
        # Runs after _per_type (definition order), so lots are spelled ENT:LOT and a receive has its
        # counterparty. Every problem is raised at once, each at its own line and field.
        recorded = bool(info.context and info.context.get(RECORDED))
        problems = pairing_problems(self, recorded=recorded)
        if problems:
            raise ValidationError.from_exception_data(
                "Event",
                [
                    # The reason travels in the context (not as pydantic's template): the workbench reads
                    # its message there, and a value in it is never taken for a template field.
                    InitErrorDetails(
                        type=PydanticCustomError("pairing", "{reason}", {"reason": msg}), loc=loc, input=value
                    )
                    for loc, msg, value in problems
                ],
            )
        return self

    def canonical(self) -> dict[str, Any]:
        """The record as it is hashed: unset optional fields dropped, times in ISO 8601 with offset,
        ``from_`` spelled ``from`` (its name in files)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)

    def canonical_bytes(self) -> bytes:
        """``reetrace.store.chain.canonical(self.canonical())``, the bytes that are hashed, in a third
        of the time: the Python-mode dump (13 µs less per event than the JSON mode) with its one
        non-JSON value, the time, written by orjson exactly as the JSON mode writes it (``Z`` for a
        zero offset, microseconds when there are any). tests/test_models.py holds the two equal."""
        return orjson.dumps(
            self.model_dump(exclude_none=True, by_alias=True),
            option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z,
        )


#: Validation context key: the record is already in the log (``verify``). Rules added after it was
#: accepted do not apply to it: a multi-lot receive without ``from`` whose counts differ was valid
#: before receipts were paired (2026-11-28), and stays readable (its edges derive as a legacy blend).
RECORDED = "recorded"

Loc = tuple[int | str, ...]


def pairing_problems(ev: Event, *, recorded: bool = False) -> list[tuple[Loc, Message, Any]]:
    """Problems of ``from`` and of the pairing of a receive's outputs with its inputs, as (location,
    reason, offending value); normalises a bare ``from`` to the sender's ``ENT:LOT`` on the way.

    Rules (docs/contract/events.md): ``from`` only on receive outputs; it names an input of the event;
    with no ``from`` anywhere, output *i* comes from input *i* and the counts must be equal; otherwise
    every output names its source; every input is the source of at least one output. A bare code in
    ``from`` is the **sender's** lot: a receive only ever draws the counterparty's lots, so reading it
    as the reporter's (as in a lot line) could only ever be an error.
    """
    out: list[tuple[Loc, Message, Any]] = []
    named = [(i, line) for i, line in enumerate(ev.outputs) if line.from_ is not None]
    if ev.type != "receive":
        for i, line in named:
            reason = M_("from belongs on the outputs of a receive, not a {type}", type=word(ev.type))
            out.append((("outputs", i, "from"), reason, line.from_))
        return out
    for _, line in named:
        ref = line.from_
        assert ref is not None
        if ":" not in ref:
            object.__setattr__(line, "from_", f"{ev.counterparty}:{ref}")  # fresh object, as for lot
    ins = [line.lot for line in ev.inputs]
    if not named:
        if len(ins) != len(ev.outputs) and not recorded:
            reason = M_(
                "this receive has {inputs} input(s) and {outputs} output(s): name each output's source "
                "input with from", inputs=len(ins), outputs=len(ev.outputs),
            )  # fmt: skip
            out.append((("outputs",), reason, len(ev.outputs)))
        return out
    known = set(ins)
    for i, line in enumerate(ev.outputs):
        if line.from_ is None:
            reason = M_(
                "missing: other outputs of this receive name their source input, so every output must"
            )
            out.append((("outputs", i, "from"), reason, None))
        elif line.from_ not in known:
            reason = M_(
                "{lot} is not an input of this receive (inputs: {inputs})",
                lot=line.from_,
                inputs=", ".join(ins),
            )
            out.append((("outputs", i, "from"), reason, line.from_))
    sources = {line.from_ for line in ev.outputs}
    for j, lot in enumerate(ins):
        if lot not in sources:
            reason = M_(
                "no output of this receive comes from {lot}: name it in the from of the output it became",
                lot=lot,
            )
            out.append((("inputs", j, "lot"), reason, lot))
    return out


EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


# --------------------------------------------------------------------------------------------------
# Registry


class Group(_Strict):
    code: EnterpriseCode
    name: Text


class EnterpriseKey(_Strict):
    """A key an enterprise signs its submissions with (docs/transparency-log.md, signed submissions):
    the verifier key ``<name>+<key ID hex>+<base64(0x01 || Ed25519 public key)>`` and when it is valid
    (the submission's reception time must fall in ``[valid_from, valid_to)``; no ``valid_to``: until
    revoked, i.e. removed from the registry)."""

    key: Annotated[
        str, StringConstraints(min_length=10, max_length=500, pattern=r"^[^+\s]+\+[0-9a-f]{8}\+\S+$")
    ]
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _order(self) -> EnterpriseKey:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(M_("valid_to must be after valid_from"))
        return self


class Enterprise(_Strict):
    code: EnterpriseCode
    name: Text
    group: EnterpriseCode | None = None
    province: Text | None = None
    roles: list[Role] = Field(default_factory=list)
    approved: bool = False
    #: Submission signing keys; absent (None) and an empty list mean none.
    keys: list[EnterpriseKey] | None = None
    #: Whether every submission must carry a valid signature (absent: not required).
    signatures_required: bool | None = None

    @field_validator("roles")
    @classmethod
    def _sorted_roles(cls, v: list[str]) -> list[str]:
        return sorted(set(v))


class Site(_Strict):
    code: Code
    enterprise: EnterpriseCode
    kind: Literal["mine", "plant", "warehouse", "port"]
    licence: Code | None = None
    capacity_t: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)] | None = None
    name: Text | None = None
    province: Text | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Site:
        if self.licence is not None and self.kind != "mine":
            raise ValueError(M_("only a mine has a mining licence"))
        if self.capacity_t is not None and self.kind != "plant":
            raise ValueError(M_("only a plant has a separation capacity"))
        return self


class Quota(_Strict):
    year: Annotated[int, Field(ge=2000, le=2100)]
    batch: Annotated[int, Field(ge=1, le=12)]
    holder: EnterpriseCode
    category: Literal["mining", "separation"]
    tonnes_reo: Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)]
    note: Text | None = None


class Registry(_Strict):
    """The registry file (docs/contract/files.md): loading it again appends only what changed."""

    groups: list[Group] = Field(default_factory=list)
    enterprises: list[Enterprise] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    quotas: list[Quota] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_keys(self) -> Registry:
        for name, key in (
            ("groups", lambda r: r.code),
            ("enterprises", lambda r: r.code),
            ("sites", lambda r: r.code),
            ("quotas", lambda r: (r.year, r.batch, r.holder, r.category)),
        ):
            seen: set[Any] = set()
            for rec in getattr(self, name):
                k = key(rec)
                if k in seen:
                    raise ValueError(M_("{field}: {key} is listed twice", field=name, key=str(k)))
                seen.add(k)
        return self
