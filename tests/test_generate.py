"""The dataset generator: determinism, validity, a clean dataset that is clean, injections that bite.

Consistency is checked straight from the written files by a small independent reader (:class:`Dataset`)
that knows only the BRIEF's rules, not the generator's internals.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from reetrace.generate import EXPECTED_RULE, KINDS, GenerateSummary, generate
from reetrace.intake.files import read_events
from reetrace.models import Event, OutputLine, Registry

LOSS_BANDS = {"separation": (0.04, 0.08), "metal_smelting": (0.03, 0.05)}


@dataclass
class Use:
    event: Event
    where: tuple[str, int]  # (period, line) in the reporter's files


@dataclass
class Dataset:
    """Everything in a generated directory, read back through the models."""

    root: Path
    registry: Registry
    manifest: list[dict[str, str]]
    truth: dict[str, Any]
    #: (period, enterprise) -> events of that file, in file order
    files: dict[tuple[str, str], list[Event]] = field(default_factory=dict)
    created: dict[str, tuple[OutputLine, Event, tuple[str, int]]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Dataset:
        ds = cls(
            root,
            Registry.model_validate(orjson.loads((root / "registry.json").read_bytes())),
            orjson.loads((root / "manifest.json").read_bytes()),
            orjson.loads((root / "ground_truth.json").read_bytes()),
        )
        for sub in sorted(ds.manifest, key=lambda r: (r["period"], r["enterprise"])):
            evs = []
            for n, line in enumerate((root / sub["file"]).read_bytes().splitlines(), 1):
                ev = Event.model_validate(orjson.loads(line))
                evs.append(ev)
                for out in ev.outputs:
                    assert out.lot not in ds.created, f"{out.lot} is created twice"
                    ds.created[out.lot] = (out, ev, (sub["period"], n))
            ds.files[(sub["period"], sub["enterprise"])] = evs
        return ds

    def events(self) -> Iterator[Event]:
        for evs in self.files.values():
            yield from evs

    def group_of(self) -> dict[str, str | None]:
        return {e.code: e.group for e in self.registry.enterprises}

    def content(self, lot: str, kg: float) -> tuple[float, dict[str, float] | None]:
        """REO and element REO in ``kg`` of ``lot``; (0, None) for a lot nobody created."""
        if lot not in self.created:
            return 0.0, None
        out = self.created[lot][0]
        reo, els = out.reo()
        f = kg / out.mass_kg
        return reo * f, None if els is None else {el: v * f for el, v in els.items()}

    # -- a small audit: rule -> offending lots and event ids ------------------------------------

    def findings(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        drawn: dict[str, float] = defaultdict(float)
        ships: Counter[tuple[str, str, str, str]] = Counter()
        recvs: Counter[tuple[str, str, str, str]] = Counter()
        masses: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        ents = {e.code: e for e in self.registry.enterprises}
        sites = {s.code: s for s in self.registry.sites}
        group = self.group_of()
        #: (enterprise, period, process) -> REO in, REO out, for the processes with a loss band
        balance: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        mined: dict[str, float] = defaultdict(float)
        separated: dict[str, float] = defaultdict(float)
        for ev in self.events():
            for line in ev.inputs:
                if line.lot not in self.created:
                    found["unexplained_lot"].add(line.lot)
                elif self.created[line.lot][1].occurred_at > ev.occurred_at:
                    found["impossible_time"].update({line.lot, ev.event_id})
                if ev.type != "receive":
                    drawn[line.lot] += line.mass_kg
            if ev.type in ("ship", "receive"):
                sender = ev.enterprise if ev.type == "ship" else ev.counterparty
                receiver = ev.counterparty if ev.type == "ship" else ev.enterprise
                assert sender is not None and receiver is not None and ev.documents
                key = (sender, receiver, ev.inputs[0].lot, ev.documents["waybill"])
                (ships if ev.type == "ship" else recvs)[key] += 1
                masses[key].append(ev.inputs[0].mass_kg)
            if ev.type == "adjust" and ev.outputs:
                found["stock_gain"].add(ev.event_id)
            if ev.type == "extract":
                site = sites[ev.site or ""]
                if not ents[ev.enterprise].approved or site.kind != "mine" or not site.licence:
                    found["unauthorised_actor"].add(ev.event_id)
                mined[group[ev.enterprise] or ""] += sum(o.reo()[0] for o in ev.outputs)
            if ev.type == "process":
                self._balance(ev, found)
                if ev.process in LOSS_BANDS:
                    acc = balance[(ev.enterprise, ev.occurred_at.strftime("%Y-%m"), ev.process)]
                    acc[0] += self.inflow(ev)[0]
                    acc[1] += outflow(ev)[0]
                if ev.process == "separation":
                    if not ents[ev.enterprise].approved:
                        found["unauthorised_actor"].add(ev.event_id)
                    separated[group[ev.enterprise] or ""] += sum(
                        self.content(i.lot, i.mass_kg)[0] for i in ev.inputs
                    )
                if ev.process == "recycling" and any(
                    self.created[i.lot][0].form != "scrap" for i in ev.inputs
                ):
                    found["unauthorised_actor"].add(ev.event_id)
        for lot, kg in drawn.items():
            if kg > self.created[lot][0].mass_kg * 1.005:
                found["overdrawn_lot"].add(lot)
        for key in ships.keys() | recvs.keys():
            kgs = masses[key]
            if ships[key] != recvs[key] or max(kgs) - min(kgs) > 0.01 * max(kgs):
                found["unmatched_custody"].add(key[2])
        for (ent, per, process), (reo_in, reo_out) in balance.items():
            lo, hi = LOSS_BANDS[process]
            if not lo <= 1 - reo_out / reo_in <= hi:
                found["period_mass_balance"].add(f"{ent}:{per}")
        for q in self.registry.quotas:
            used = (mined if q.category == "mining" else separated)[q.holder] / 1000.0
            limit = sum(
                x.tonnes_reo for x in self.registry.quotas
                if x.holder == q.holder and x.category == q.category and x.year == q.year
            )  # fmt: skip
            if used > limit:
                found["quota_exceeded"].add(f"{q.holder}:{q.category}")
        return dict(found)

    def inflow(self, ev: Event) -> tuple[float, dict[str, float]]:
        """REO and known element REO an event draws (a lot without a profile adds to REO only)."""
        reo_in, el_in = 0.0, defaultdict[str, float](float)
        for line in ev.inputs:
            reo, els = self.content(line.lot, line.mass_kg)
            reo_in += reo
            for el, kg in (els or {}).items():
                el_in[el] += kg
        return reo_in, el_in

    def _balance(self, ev: Event, found: dict[str, set[str]]) -> None:
        reo_in, el_in = self.inflow(ev)
        reo_out, el_out = outflow(ev)
        over = [
            el for el, kg in el_out.items() if kg > max(el_in.get(el, 0.0) * 1.02, el_in.get(el, 0.0) + 1.0)
        ]
        if reo_out > reo_in * 1.01 or over:
            found["output_exceeds_input"].add(ev.event_id)


def outflow(ev: Event) -> tuple[float, dict[str, float]]:
    reo_out, el_out = 0.0, defaultdict[str, float](float)
    for out in ev.outputs:
        reo, els = out.reo()
        reo_out += reo
        for el, kg in (els or {}).items():
            el_out[el] += kg
    return reo_out, el_out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, Dataset]:
    out = tmp_path_factory.mktemp("clean")
    summary = generate(out, months=3, scale=1.0, seed=11)
    return summary, Dataset.read(out)


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, Dataset]:
    out = tmp_path_factory.mktemp("injected")
    summary = generate(out, months=3, scale=1.0, seed=5, inject=list(KINDS))
    return summary, Dataset.read(out)


# -- determinism and shape ------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, months=2, scale=0.5, seed=3, inject=["double_draw", "late_report"])
    generate(b, months=2, scale=0.5, seed=3, inject=["double_draw", "late_report"])
    generate(c, months=2, scale=0.5, seed=4, inject=["double_draw", "late_report"])
    assert _tree(a) == _tree(b)
    assert _tree(a)["submissions/2025-01/NMMINE01.jsonl"] != _tree(c)["submissions/2025-01/NMMINE01.jsonl"]


def test_every_record_validates_and_every_enterprise_reports(
    clean: tuple[GenerateSummary, Dataset],
) -> None:
    summary, ds = clean
    codes = {e.code for e in ds.registry.enterprises}
    assert summary.enterprises == len(codes) >= 30
    assert {s.enterprise for s in ds.registry.sites} <= codes
    assert {g.code for g in ds.registry.groups} == {"CNRE", "CREG"}
    # One file per active enterprise per month, each in the manifest once.
    assert Counter((r["enterprise"], r["period"]) for r in ds.manifest) == Counter(
        (c, f"2025-{m:02d}") for c in codes for m in (1, 2, 3)
    )
    events = list(ds.events())
    assert summary.events == len(events)
    assert summary.lot_lines == sum(len(e.inputs) + len(e.outputs) for e in events)
    assert summary.edges == sum(len(e.inputs) * len(e.outputs) for e in events)
    assert summary.submissions == summary.files == len(ds.manifest)


def test_times_lie_in_their_period_and_increase_within_a_file(clean: tuple[GenerateSummary, Dataset]) -> None:
    _, ds = clean
    sites = {s.code: s.enterprise for s in ds.registry.sites}
    for (per, ent), evs in ds.files.items():
        times = [e.occurred_at for e in evs]
        assert times == sorted(times) and len(set(times)) == len(times), (per, ent)
        for e in evs:
            assert e.enterprise == ent and sites[e.site or ""] == ent
            assert e.occurred_at.utcoffset() == timedelta(hours=8)
            assert e.occurred_at.strftime("%Y-%m") == per
    for r in ds.manifest:
        got = datetime.fromisoformat(r["received_at"])
        year, month = map(int, r["period"].split("-"))
        due = datetime(year + month // 12, month % 12 + 1, 10, 23, 59, 59, tzinfo=got.tzinfo)
        assert due - timedelta(days=10) < got <= due, r
    assert [r["received_at"] for r in ds.manifest] == sorted(r["received_at"] for r in ds.manifest)


# -- a clean dataset is clean ---------------------------------------------------------------------


def test_clean_dataset_breaks_no_rule(clean: tuple[GenerateSummary, Dataset]) -> None:
    _, ds = clean
    assert ds.findings() == {}
    assert ds.truth["injected"] == []


def test_own_lots_exist_before_use_and_custody_is_two_sided(clean: tuple[GenerateSummary, Dataset]) -> None:
    _, ds = clean
    codes = {e.code for e in ds.registry.enterprises}
    for (per, _), evs in ds.files.items():
        for n, ev in enumerate(evs, 1):
            if ev.counterparty is not None:
                assert ev.counterparty in codes
            if ev.type == "receive":
                continue
            for line in ev.inputs:
                _, made, where = ds.created[line.lot]
                assert made.enterprise == ev.enterprise
                assert where < (per, n) and made.occurred_at < ev.occurred_at
    ships = {
        (e.enterprise, e.documents["waybill"]): e for e in ds.events() if e.type == "ship" and e.documents
    }
    for ev in ds.events():
        if ev.type == "receive":
            assert ev.documents is not None and ev.counterparty is not None
            ship = ships.pop((ev.counterparty, ev.documents["waybill"]))
            assert ship.counterparty == ev.enterprise and ship.documents == ev.documents
            assert ship.inputs == ev.inputs and ship.occurred_at < ev.occurred_at
            out, inp = ev.outputs[0], ds.created[ev.inputs[0].lot][0]
            assert (out.product, out.form, out.reo_pct, out.re_metal_pct, out.elements) == (
                inp.product, inp.form, inp.reo_pct, inp.re_metal_pct, inp.elements,
            )  # fmt: skip
            assert out.mass_kg == ev.inputs[0].mass_kg
    assert ships == {}


def test_every_process_balances_within_its_loss_band(clean: tuple[GenerateSummary, Dataset]) -> None:
    _, ds = clean
    seen: Counter[str] = Counter()
    for ev in ds.events():
        if ev.type != "process":
            continue
        assert ev.process is not None
        seen[ev.process] += 1
        assert all(ds.created[i.lot][0].elements for i in ev.inputs)
        assert all(o.elements for o in ev.outputs)
        reo_in, el_in = ds.inflow(ev)
        reo_out, el_out = outflow(ev)
        for el, kg in el_out.items():
            assert kg <= el_in.get(el, 0.0) * (1 + 1e-6), (ev.event_id, el)
        loss = 1 - reo_out / reo_in
        lo, hi = LOSS_BANDS.get(ev.process, (0.0, 0.2))
        assert lo < loss < hi, (ev.event_id, ev.process, loss)
        if ev.process == "recycling":
            assert all(ds.created[i.lot][0].form == "scrap" for i in ev.inputs)
    assert set(seen) == {"beneficiation", "separation", "metal_smelting", "magnet_making", "recycling"}


@pytest.mark.slow
def test_a_year_uses_its_quotas_with_margin(tmp_path: Path) -> None:
    generate(tmp_path, months=12, scale=1.0, seed=2)
    ds = Dataset.read(tmp_path)
    group = ds.group_of()
    used: dict[tuple[str, str], float] = defaultdict(float)
    magnets = []
    for ev in ds.events():
        if ev.type == "extract":
            used[(group[ev.enterprise] or "", "mining")] += sum(o.reo()[0] for o in ev.outputs)
        if ev.process == "separation":
            used[(group[ev.enterprise] or "", "separation")] += sum(
                ds.content(i.lot, i.mass_kg)[0] for i in ev.inputs
            )
        magnets += [o for o in ev.outputs if o.form == "magnet"]
    for g in ("CNRE", "CREG"):
        for cat in ("mining", "separation"):
            quota = sum(q.tonnes_reo for q in ds.registry.quotas if q.holder == g and q.category == cat)
            assert 0.7 < used[(g, cat)] / 1000 / quota < 0.9, (g, cat)
    for m in magnets:
        assert m.elements is not None and m.re_metal_pct is not None
        dy_pct = m.re_metal_pct * m.elements.get("Dy", 0.0) / sum(m.elements.values())
        assert 0.5 < dy_pct < 1.3 and 30 <= m.re_metal_pct <= 32


# -- injections -----------------------------------------------------------------------------------


def test_unknown_injection_kind_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known kinds: laundering"):
        generate(tmp_path, months=1, scale=0.5, inject=["laundering", "teleportation"])
    for bad in ({"months": 0}, {"months": 13}, {"scale": 0.0}, {"scale": float("nan")}):
        with pytest.raises(ValueError):
            generate(tmp_path, **bad)


def test_every_injection_is_recorded_and_names_what_exists(injected: tuple[GenerateSummary, Dataset]) -> None:
    summary, ds = injected
    records = ds.truth["injected"]
    assert {r["kind"] for r in records} == set(KINDS)
    assert [r["kind"] for r in records] == [i.kind for i in summary.injected]
    assert all(r["rule"] in set(EXPECTED_RULE.values()) for r in records)
    ids = {e.event_id for e in ds.events()}
    referenced = {line.lot for e in ds.events() for line in e.inputs} | set(ds.created)
    for r in records:
        assert set(r["events"]) <= ids, r
        assert set(r["lots"]) <= referenced, r
        assert r["period"] in {"2025-01", "2025-02", "2025-03"}
    files = {(r["enterprise"], r["period"]): r for r in ds.manifest}
    for r in records:
        key = (r["enterprise"], r["period"])
        if r["kind"] == "missing_report":
            assert key not in files
            assert not (ds.root / f"submissions/{r['period']}/{r['enterprise']}.jsonl").exists()
        if r["kind"] == "late_report":
            assert datetime.fromisoformat(files[key]["received_at"]).day > 10
            assert ds.files[(r["period"], r["enterprise"])] == []  # quiet month: a late nil report


def test_each_injection_breaks_its_rule_and_little_else(injected: tuple[GenerateSummary, Dataset]) -> None:
    _, ds = injected
    found = ds.findings()
    records = ds.truth["injected"]
    named: dict[str, set[str]] = defaultdict(set)
    for r in records:
        named[r["rule"]].update(r["lots"], r["events"])
        if r["rule"] in ("period_mass_balance", "output_exceeds_input"):
            # An event whose output exceeds its input also throws its plant's month off balance.
            named["period_mass_balance"].add(f"{r['enterprise']}:{r['period']}")
    # Every injection shows up under its rule ...
    for r in records:
        if r["rule"] == "reporting":
            continue
        if r["rule"] == "quota_exceeded":
            assert any(k.endswith(r["kind"].removeprefix("overquota_")) for k in found["quota_exceeded"])
        elif r["rule"] == "period_mass_balance":
            assert f"{r['enterprise']}:{r['period']}" in found["period_mass_balance"]
        else:
            assert found[r["rule"]] & (set(r["lots"]) | set(r["events"])), r
    # ... and nothing shows up that no injection explains. A receive of a lot nobody shipped is also
    # unmatched custody: the one side finding the records announce.
    phantoms = found["unexplained_lot"]
    for rule, keys in found.items():
        if rule == "quota_exceeded":
            continue
        extra = keys - named[rule] - (phantoms if rule == "unmatched_custody" else set())
        assert not extra, (rule, extra)


# -- formats and progress -------------------------------------------------------------------------


def test_csv_holds_the_same_events_as_jsonl(tmp_path: Path) -> None:
    generate(tmp_path / "j", months=1, scale=0.5, seed=9)
    generate(tmp_path / "c", months=1, scale=0.5, seed=9, fmt="csv")
    manifest = orjson.loads((tmp_path / "c" / "manifest.json").read_bytes())
    assert all(r["file"].endswith(".csv") for r in manifest)
    n = 0
    for r in manifest:
        jsonl = (tmp_path / "j" / r["file"].replace(".csv", ".jsonl")).read_bytes()
        want = [Event.model_validate(orjson.loads(x)) for x in jsonl.splitlines()]
        got = list(read_events(io.BytesIO((tmp_path / "c" / r["file"]).read_bytes()), "csv", r["file"]))
        assert all(p.event is not None and not p.problems for p in got), [p.problems for p in got][:3]
        assert [p.event for p in got] == want
        n += len(want)
    assert n > 100


def test_progress_reports_each_month(tmp_path: Path) -> None:
    seen: list[int] = []
    generate(tmp_path, months=2, scale=0.3, progress=seen.append)
    assert seen == [1, 2]
