"""The reason of a pydantic validation error, as a :class:`reetrace.messages.Message`.

Pydantic writes its errors in English from templates of its own (``Input should be greater than {gt}``)
filled from the error's context. The templates of the error types our models can raise are repeated here
(marked for the workbench's catalog), so that a refused upload reads in the reader's language. A message
is used only when it makes exactly pydantic's text: a pydantic release that rewords an error, or an error
type not listed, keeps its English words (``pydantic_reason`` never makes up a reason of its own).

Errors raised by our own validators (``ValueError(M_(...))`` in :mod:`reetrace.models`) carry their
message in the error's context, and pattern errors get friendlier words (the pydantic text shows a
regular expression).
"""

from __future__ import annotations

from typing import Any

from reetrace.messages import N_, Message, Param

#: pydantic error type -> its English template (one per plural form where pydantic varies it).
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "missing": (N_("Field required"),),
    "extra_forbidden": (N_("Extra inputs are not permitted"),),
    "string_type": (N_("Input should be a valid string"),),
    "string_unicode": (N_("Input should be a valid string, unable to parse raw data as a unicode string"),),
    "string_too_short": (
        N_("String should have at least {min_length} character"),
        N_("String should have at least {min_length} characters"),
    ),
    "string_too_long": (
        N_("String should have at most {max_length} character"),
        N_("String should have at most {max_length} characters"),
    ),
    "string_pattern_mismatch": (N_("String should match pattern '{pattern}'"),),
    "float_type": (N_("Input should be a valid number"),),
    "float_parsing": (N_("Input should be a valid number, unable to parse string as a number"),),
    "int_type": (N_("Input should be a valid integer"),),
    "int_parsing": (N_("Input should be a valid integer, unable to parse string as an integer"),),
    "int_from_float": (N_("Input should be a valid integer, got a number with a fractional part"),),
    "bool_type": (N_("Input should be a valid boolean"),),
    "finite_number": (N_("Input should be a finite number"),),
    "greater_than": (N_("Input should be greater than {gt}"),),
    "greater_than_equal": (N_("Input should be greater than or equal to {ge}"),),
    "less_than": (N_("Input should be less than {lt}"),),
    "less_than_equal": (N_("Input should be less than or equal to {le}"),),
    "literal_error": (N_("Input should be {expected}"),),
    "list_type": (N_("Input should be a valid list"),),
    "dict_type": (N_("Input should be a valid dictionary"),),
    "model_type": (N_("Input should be a valid dictionary or instance of {class_name}"),),
    "model_attributes_type": (N_("Input should be a valid dictionary or object to extract fields from"),),
    "too_long": (
        N_("{field_type} should have at most {max_length} item after validation, not {actual_length}"),
        N_("{field_type} should have at most {max_length} items after validation, not {actual_length}"),
    ),
    "datetime_type": (N_("Input should be a valid datetime"),),
    "datetime_parsing": (N_("Input should be a valid datetime, {error}"),),
    "datetime_from_date_parsing": (N_("Input should be a valid datetime or date, {error}"),),
    "timezone_aware": (N_("Input should have timezone info"),),
    "date_type": (N_("Input should be a valid date"),),
    "date_parsing": (N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),),
    "date_from_datetime_parsing": (N_("Input should be a valid date or datetime, {error}"),),
}

#: Friendlier words for errors whose pydantic message shows a regular expression (by the field's name).
_PATTERN_MESSAGES = {
    "lot": N_("a lot is LOT (your own) or ENT:LOT, both parts non-empty, no space in ENT"),
    "enterprise": N_("an enterprise code has no colon or white space"),
    "counterparty": N_("an enterprise code has no colon or white space"),
    "hs_code": N_("an HS code is digits like 2530.90.20"),
}


def _param(value: Any) -> Param | None:
    # pydantic shows a bound 0.0 as "0": an integral float is an int in its text.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float):
        return value
    return None


def pydantic_reason(e: Any) -> str:
    """The reason of one pydantic error (an item of ``ValidationError.errors()``), in words a reporter
    can act on: a :class:`Message` where one is known, else pydantic's own text."""
    kind, ctx, loc = e["type"], e.get("ctx") or {}, e.get("loc") or ()
    text = str(e["msg"])
    if kind == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_MESSAGES:
        rule = Message(_PATTERN_MESSAGES[loc[-1]])
        return Message(N_("{rule} (got {value})"), {"rule": rule, "value": repr(e["input"])})
    if kind == "value_error":
        error = ctx.get("error")
        if isinstance(error, ValueError) and len(error.args) == 1 and isinstance(error.args[0], Message):
            return error.args[0]
        return text.removeprefix("Value error, ")
    if kind == "pairing" and isinstance(ctx.get("reason"), Message):
        return Message(ctx["reason"].msgid, ctx["reason"].params)
    params = {k: _param(v) for k, v in ctx.items()}
    for template in _TEMPLATES.get(kind, ()):
        try:
            message = Message(template, params)
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if message == text:
            return message
    return text


__all__ = ["pydantic_reason"]
