"""The registry side of the generated country: groups, enterprises, sites, quotas and yearly plans.

Quotas follow the 2024 first batch (docs/contract/reference-facts.md) in proportion, issued in two
equal batches, scaled by ``scale / 100`` (so ``scale=100`` is roughly the real industry). Production is
*planned* below them: mines extract :data:`MINING_USE` of their group's mining quota, and imports are
sized so that the feed reaching each group's separators is about :data:`SEPARATION_USE` of its
separation quota. A clean year therefore stays under every quota with a margin, at any scale.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal[
    "mine", "importer", "separator", "smelter", "magnet", "recycler", "trader", "exporter", "end_user"
]  # fmt: skip

#: 2024 first batch, t REO (docs/contract/reference-facts.md).
QUOTA_2024 = {
    ("CNRE", "mining"): 94_580.0,
    ("CREG", "mining"): 40_420.0,
    ("CNRE", "separation"): 88_010.0,
    ("CREG", "separation"): 38_990.0,
}
#: CREG's mining batch splits into light (Sichuan/Shandong) and ionic (southern clays).
CREG_LIGHT, CREG_IONIC = 30_280.0, 10_140.0
GROUPS = (
    ("CNRE", "China Northern Rare Earth Group"),
    ("CREG", "China Rare Earth Group"),
)

#: Planned use of the quotas by a clean year: under 1 with margin, whatever the randomness.
MINING_USE = 0.80
SEPARATION_USE = 0.82
#: Mean REO recovery of beneficiation; imports make up the separation plan on top of domestic feed.
BENEFICIATION_RECOVERY = (0.85, 0.90)
#: The smallest separation plant that may hold a quota (docs/contract/reference-facts.md), t REO/yr.
MIN_PLANT_T = 2000.0


@dataclass(frozen=True)
class ImportSource:
    """A kind of imported feed: what it is, where from, its customs classification."""

    product: str
    form: str
    hs_code: str
    reo_pct: tuple[float, float]
    #: (country, deposit profile, weight)
    countries: tuple[tuple[str, str, float], ...]


IMPORTS: dict[str, ImportSource] = {
    "us_bastnaesite": ImportSource(
        "bastnaesite concentrate", "concentrate", "2530.90.20", (58.0, 62.0),
        (("US", "mountain_pass", 1.0),),
    ),
    "myanmar_oxide": ImportSource(
        "mixed rare earth oxide", "mixed_compound", "2846.90", (88.0, 92.0),
        (("MM", "myanmar", 1.0),),
    ),
    "sea_carbonate": ImportSource(
        "mixed rare earth carbonate", "mixed_compound", "2846.90", (42.0, 48.0),
        (("MY", "mount_weld", 0.6), ("LA", "myanmar", 0.4)),
    ),
    "monazite": ImportSource(
        "monazite concentrate", "concentrate", "2612.20", (55.0, 60.0),
        (("MG", "mount_weld", 0.4), ("NG", "mount_weld", 0.3), ("TH", "mount_weld", 0.3)),
    ),
}  # fmt: skip

#: Share of each group's imported feed by source (US concentrate went to the north, Myanmar and
#: South-East Asian compounds to the southern ionic separators, monazite to both).
IMPORT_MIX = {
    "CNRE": {"us_bastnaesite": 0.7, "monazite": 0.3},
    "CREG": {"myanmar_oxide": 0.55, "sea_carbonate": 0.25, "monazite": 0.2},
}
#: Which separation region takes a group's feed.
GROUP_REGION = {"CNRE": "baotou", "CREG": "south"}


@dataclass(frozen=True)
class Actor:
    """One registered enterprise as the generator drives it."""

    code: str
    name: str
    kind: Kind
    group: str | None
    province: str
    roles: tuple[str, ...]
    approved: bool
    #: purpose -> site code; every actor has a "store" (where it ships from and receives into).
    sites: dict[str, str]
    #: mines: the deposit (a key of profiles.DEPOSITS); importers: a key of IMPORTS.
    source: str | None = None
    #: separators: the feed region they serve.
    region: str | None = None
    #: routing weight among actors of the same kind.
    weight: float = 1.0
    #: mines and importers: planned t REO per year, by destination region.
    plan: dict[str, float] = field(default_factory=dict)
    #: an unapproved enterprise with a small separation plant (a trader in clean data).
    rogue: bool = False


@dataclass(frozen=True)
class _Template:
    kind: Kind
    prefix: str
    province: str
    group: str | None
    base: int
    per_decade: float  # extra enterprises per factor 10 of scale
    name: str
    source: str | None = None
    region: str | None = None


_TEMPLATES: tuple[_Template, ...] = (
    _Template("mine", "NMMINE", "Inner Mongolia", "CNRE", 1, 0.5,
              "Baotou Bayan Obo Rare Earth Mining Co. No. {n}", "bayan_obo", "baotou"),
    _Template("mine", "SCMINE", "Sichuan", "CREG", 1, 0.5,
              "Mianning Maoniuping Rare Earth Mining Co. No. {n}", "mianning", "sichuan"),
    _Template("mine", "SDMINE", "Shandong", "CREG", 1, 0.0,
              "Weishan Rare Earth Mining Co. No. {n}", "weishan", "sichuan"),
    _Template("mine", "JXMINE", "Jiangxi", "CREG", 1, 0.5,
              "Longnan Ion-Adsorption Rare Earth Co. No. {n}", "longnan", "south"),
    _Template("mine", "JXMINE", "Jiangxi", "CREG", 1, 0.5,
              "Xunwu Ion-Adsorption Rare Earth Co. No. {n}", "xunwu", "south"),
    _Template("importer", "JSIMP", "Jiangsu", None, 1, 0.5,
              "Lianyungang Rare Earth Import Co. No. {n}", "us_bastnaesite"),
    _Template("importer", "YNIMP", "Yunnan", None, 1, 0.5,
              "Tengchong Border Rare Earth Trading Co. No. {n}", "myanmar_oxide"),
    _Template("importer", "GXIMP", "Guangxi", None, 1, 0.5,
              "Fangchenggang Rare Earth Import Co. No. {n}", "sea_carbonate"),
    _Template("importer", "JSIMP", "Jiangsu", None, 1, 0.5,
              "Jiangsu Monazite Import Co. No. {n}", "monazite"),
    _Template("separator", "NMSEP", "Inner Mongolia", "CNRE", 3, 1.0,
              "Baotou Rare Earth Separation Co. No. {n}", region="baotou"),
    _Template("separator", "SCSEP", "Sichuan", "CREG", 1, 0.5,
              "Leshan Rare Earth Separation Co. No. {n}", region="sichuan"),
    _Template("separator", "JXSEP", "Jiangxi", "CREG", 1, 0.5,
              "Ganzhou Rare Earth Separation Co. No. {n}", region="south"),
    _Template("separator", "GDSEP", "Guangdong", "CREG", 1, 0.5,
              "Guangdong Rare Earth Separation Co. No. {n}", region="south"),
    _Template("smelter", "NMMET", "Inner Mongolia", "CNRE", 1, 0.5,
              "Baotou Rare Earth Metals Co. No. {n}"),
    _Template("smelter", "JXMET", "Jiangxi", "CREG", 1, 0.5,
              "Ganzhou Rare Earth Metals Co. No. {n}"),
    _Template("smelter", "ZJMET", "Zhejiang", None, 1, 0.5,
              "Zhejiang Rare Earth Metal Smelting Co. No. {n}"),
    _Template("magnet", "ZJMAG", "Zhejiang", None, 2, 1.0, "Ningbo NdFeB Magnet Co. No. {n}"),
    _Template("magnet", "NMMAG", "Inner Mongolia", None, 1, 0.5, "Baotou Magnet Materials Co. No. {n}"),
    _Template("magnet", "TJMAG", "Tianjin", None, 1, 0.5, "Tianjin Permanent Magnet Co. No. {n}"),
    _Template("magnet", "JXMAG", "Jiangxi", None, 1, 0.5, "Ganzhou Magnet Technology Co. No. {n}"),
    _Template("recycler", "JXREC", "Jiangxi", None, 1, 0.5,
              "Ganzhou Rare Earth Recycling Co. No. {n}"),
    _Template("recycler", "ZJREC", "Zhejiang", None, 1, 0.5,
              "Ningbo Magnet Scrap Recycling Co. No. {n}"),
    _Template("trader", "SHTRD", "Shanghai", None, 2, 0.5, "Shanghai Rare Earth Trading Co. No. {n}"),
    _Template("trader", "SDTRD", "Shandong", None, 1, 0.0,
              "Zibo Rare Earth Materials Co. No. {n}"),
    _Template("exporter", "SHEXP", "Shanghai", None, 1, 0.5, "Shanghai Rare Earth Export Co. No. {n}"),
    _Template("exporter", "ZJEXP", "Zhejiang", None, 1, 0.5, "Ningbo Magnet Export Co. No. {n}"),
    _Template("end_user", "GDEND", "Guangdong", None, 2, 1.0, "Guangdong Motor Works No. {n}"),
    _Template("end_user", "SHEND", "Shanghai", None, 1, 0.5, "Shanghai EV Drive Systems No. {n}"),
    _Template("end_user", "JSEND", "Jiangsu", None, 1, 0.5,
              "Jiangsu Catalyst and Polishing Materials No. {n}"),
    _Template("end_user", "BJEND", "Beijing", None, 1, 0.5,
              "Beijing Phosphor and Alloy Works No. {n}"),
)  # fmt: skip

#: Deposit name -> element profile key (Sichuan and Shandong bastnaesite: see profiles.DEPOSITS).
DEPOSIT_PROFILE = {
    "bayan_obo": "bayan_obo", "mianning": "mountain_pass", "weishan": "mountain_pass",
    "longnan": "longnan", "xunwu": "xunwu",
}  # fmt: skip
#: Share of a mining plan by deposit within its slice of the quota.
_DEPOSIT_SHARE = {"bayan_obo": 1.0, "mianning": 0.8, "weishan": 0.2, "longnan": 0.6, "xunwu": 0.4}
_PROVINCE_CODE = {"Inner Mongolia": 150000, "Sichuan": 510000, "Shandong": 370000, "Jiangxi": 360000}
_PORTS = {
    "Jiangsu": "Lianyungang port", "Yunnan": "Tengchong land port", "Guangxi": "Fangchenggang port",
    "Shanghai": "Yangshan port", "Zhejiang": "Ningbo-Zhoushan port",
}  # fmt: skip
_ROLES: dict[str, tuple[str, ...]] = {
    "mine": ("mining",),
    "importer": ("import", "trading"),
    "separator": ("separation",),
    "smelter": ("metal_smelting",),
    "magnet": ("magnet_making",),
    "recycler": ("recycling",),
    "trader": ("trading",),
    "exporter": ("export", "trading"),
    "end_user": ("end_use",),
}


@dataclass
class Industry:
    """The registry and the plans the monthly flows follow."""

    year: int
    scale: float
    actors: list[Actor]
    sites: list[dict[str, Any]]
    quotas: list[dict[str, Any]]

    def __post_init__(self) -> None:
        self.by_code = {a.code: a for a in self.actors}

    def quota_t(self, group: str, category: str) -> float:
        return float(
            sum(q["tonnes_reo"] for q in self.quotas if q["holder"] == group and q["category"] == category)
        )

    def registry(self) -> dict[str, Any]:
        """The registry document (docs/contract/files.md)."""
        return {
            "groups": [{"code": c, "name": n} for c, n in GROUPS],
            "enterprises": [
                {
                    "code": a.code,
                    "name": a.name,
                    "group": a.group,
                    "province": a.province,
                    "roles": sorted(a.roles),
                    "approved": a.approved,
                }
                for a in self.actors
            ],
            "sites": self.sites,
            "quotas": self.quotas,
        }


class _Sites:
    """The sites of one enterprise, appended to the registry's list as they are named."""

    def __init__(self, code: str, province: str, registry: list[dict[str, Any]]) -> None:
        self.code, self.province, self.registry = code, province, registry
        #: purpose -> site code
        self.of: dict[str, str] = {}

    def add(self, purpose: str, kind: str, name: str, **extra: Any) -> None:
        rec: dict[str, Any] = {
            "code": f"{self.code}-{purpose.upper()}",
            "enterprise": self.code,
            "kind": kind,
        }
        rec.update(extra)
        rec.update(name=name, province=self.province)
        self.registry.append(rec)
        self.of[purpose] = rec["code"]


def _count(t: _Template, scale: float) -> int:
    # Modest growth: the industry gains enterprises with the logarithm of its size, not linearly.
    return t.base + int(t.per_decade * math.log10(max(scale, 1.0)))


def build_industry(year: int, scale: float, rng: random.Random) -> Industry:
    """Enterprises, sites, quotas and plans for ``scale`` (see the module docstring)."""
    c = scale / 100.0
    quotas: list[dict[str, Any]] = []
    for batch in (1, 2):
        for (group, category), tonnes in QUOTA_2024.items():
            q: dict[str, Any] = {
                "year": year, "batch": batch, "holder": group, "category": category,
                "tonnes_reo": round(tonnes * c, 3),
            }  # fmt: skip
            if group == "CREG" and category == "mining":
                q["note"] = f"light {round(CREG_LIGHT * c, 3)} t + ionic {round(CREG_IONIC * c, 3)} t"
            quotas.append(q)
    # Yearly mining plan, t REO, by deposit slice of the quotas (two batches).
    slice_t = {
        "bayan_obo": 2 * QUOTA_2024[("CNRE", "mining")] * c * MINING_USE,
        "mianning": 2 * CREG_LIGHT * c * MINING_USE,
        "weishan": 2 * CREG_LIGHT * c * MINING_USE,
        "longnan": 2 * CREG_IONIC * c * MINING_USE,
        "xunwu": 2 * CREG_IONIC * c * MINING_USE,
    }
    benef = sum(BENEFICIATION_RECOVERY) / 2
    region_feed = {"baotou": 0.0, "sichuan": 0.0, "south": 0.0}
    domestic = {"CNRE": 0.0, "CREG": 0.0}
    for dep, tonnes in slice_t.items():
        share = tonnes * _DEPOSIT_SHARE[dep]
        tmpl = next(x for x in _TEMPLATES if x.source == dep)
        assert tmpl.region is not None and tmpl.group is not None
        region_feed[tmpl.region] += share * benef
        domestic[tmpl.group] += share * benef
    imports_t: dict[str, dict[str, float]] = {}  # source -> region -> t
    for group in ("CNRE", "CREG"):
        want = SEPARATION_USE * 2 * QUOTA_2024[(group, "separation")] * c - domestic[group]
        want = max(0.0, want)
        region = GROUP_REGION[group]
        region_feed[region] += want
        for source, share in IMPORT_MIX[group].items():
            imports_t.setdefault(source, {})
            imports_t[source][region] = imports_t[source].get(region, 0.0) + want * share

    counters: dict[str, int] = {}
    drafts: list[tuple[_Template, str, int]] = []
    for t in _TEMPLATES:
        for _ in range(_count(t, scale)):
            counters[t.prefix] = counters.get(t.prefix, 0) + 1
            drafts.append((t, f"{t.prefix}{counters[t.prefix]:02d}", counters[t.prefix]))
    same_source = {t.source: sum(1 for d in drafts if d[0].source == t.source) for t in _TEMPLATES}
    seps_in = {r: [d for d in drafts if d[0].kind == "separator" and d[0].region == r] for r in region_feed}

    actors: list[Actor] = []
    sites: list[dict[str, Any]] = []
    for t, code, n in drafts:
        weight = rng.uniform(0.7, 1.3)
        name = t.name.format(n=n)
        site = _Sites(code, t.province, sites)
        plan: dict[str, float] = {}
        roles = _ROLES[t.kind]
        rogue = t.prefix == "SDTRD"
        if t.kind == "mine":
            assert t.source is not None and t.region is not None
            licence = f"C{_PROVINCE_CODE[t.province]}{2009 + n:04d}{rng.randrange(10**7):07d}"
            site.add("mine", "mine", f"{name} mine", licence=licence)
            site.add("conc", "plant", f"{name} concentrator")
            site.of["store"] = site.of["conc"]
            plan[t.region] = slice_t[t.source] * _DEPOSIT_SHARE[t.source] / same_source[t.source]
        elif t.kind in ("importer", "exporter"):
            site.add("port", "port", _PORTS[t.province])
            site.add("store", "warehouse", f"{name} bonded warehouse")
            if t.kind == "importer":
                assert t.source is not None
                plan = {r: v / same_source[t.source] for r, v in imports_t.get(t.source, {}).items()}
        elif t.kind == "separator":
            assert t.region is not None
            yearly = region_feed[t.region] / len(seps_in[t.region]) * weight
            capacity = max(MIN_PLANT_T, math.ceil(yearly * 1.4 / 100.0) * 100.0)
            site.add("plant", "plant", f"{name} solvent extraction plant", capacity_t=capacity)
            site.add("store", "warehouse", f"{name} warehouse")
        elif t.kind == "trader":
            site.add("store", "warehouse", f"{name} warehouse")
            if rogue:
                # Below the 2,000 t minimum: a plant that can never hold a quota.
                roles = ("trading", "separation")
                site.add("plant", "plant", f"{name} extraction workshop", capacity_t=1500.0)
        else:
            site.add("plant", "plant", f"{name} works")
            if t.kind in ("smelter", "magnet", "recycler"):
                site.add("store", "warehouse", f"{name} warehouse")
            else:
                site.of["store"] = site.of["plant"]
        actors.append(
            Actor(
                code=code,
                name=name,
                kind=t.kind,
                group=t.group,
                province=t.province,
                roles=roles,
                approved=t.group is not None,
                sites=site.of,
                source=t.source,
                region=t.region,
                weight=weight,
                plan=plan,
                rogue=rogue,
            )
        )
    return Industry(year=year, scale=scale, actors=actors, sites=sites, quotas=quotas)
