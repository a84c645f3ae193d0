"""Words the pages show that come from data (forms, roles, rules, statuses…): marked here so that
message extraction finds them and the Chinese catalog translates them. ``N_`` marks without
translating; templates translate with ``_(value)`` at render time. One literal per call: extraction
reads literals only.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


FORMS = (
    N_("ore"),
    N_("concentrate"),
    N_("mixed_compound"),
    N_("oxide"),
    N_("metal"),
    N_("alloy"),
    N_("magnet"),
    N_("scrap"),
)
ROLES = (
    N_("enterprise"),
    N_("inspector"),
    N_("admin"),
)
EVENT_TYPES = (
    N_("extract"),
    N_("import"),
    N_("process"),
    N_("ship"),
    N_("receive"),
    N_("export"),
    N_("consume"),
    N_("adjust"),
    N_("retract"),
)
PROCESSES = (
    N_("beneficiation"),
    N_("separation"),
    N_("metal_smelting"),
    N_("alloying"),
    N_("magnet_making"),
    N_("recycling"),
)
RULES = (
    N_("overdrawn_lot"),
    N_("output_exceeds_input"),
    N_("unexplained_lot"),
    N_("unmatched_custody"),
    N_("unauthorised_actor"),
    N_("quota_exceeded"),
    N_("reporting"),
    N_("impossible_time"),
    N_("stock_gain"),
    N_("period_mass_balance"),
)
#: Categories of the yearly quotas (``quota_exceeded`` findings name them).
QUOTA_CATEGORIES = (
    N_("mining"),
    N_("separation"),
)
#: Why a search hit matched (``LotHit.matched``; ``documents.<kind>`` shows as "document <kind>").
MATCHES = (
    N_("lot"),
    N_("customs_entry"),
    N_("document"),
    N_("filter"),
)
#: The usual kinds of an event's documents (others show as they were reported).
DOCUMENT_KINDS = (
    N_("waybill"),
    N_("invoice"),
    N_("contract"),
)
SEVERITIES = (
    N_("high"),
    N_("medium"),
    N_("low"),
)
STATUSES = (
    N_("on_time"),
    N_("late"),
    N_("missing"),
    N_("not_due"),
)
ORIGINS = (
    N_("mine"),
    N_("import"),
    N_("scrap"),
    N_("unexplained"),
    N_("foreign_mine"),
)
ENDINGS = (
    N_("held"),
    N_("in_transit"),
    N_("exported"),
    N_("consumed"),
    N_("lost"),
    N_("process_loss"),
)

__all__ = [
    "DOCUMENT_KINDS",
    "ENDINGS",
    "EVENT_TYPES",
    "FORMS",
    "MATCHES",
    "ORIGINS",
    "PROCESSES",
    "QUOTA_CATEGORIES",
    "ROLES",
    "RULES",
    "SEVERITIES",
    "STATUSES",
]
