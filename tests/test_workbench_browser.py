"""The workbench in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against a real
uvicorn serving a generated year on SQLite.

Walks what an inspector and an enterprise do: sign in, find a lot by a lower-case prefix, open it, trace
it, click an upstream node, filter findings, switch to Chinese; an enterprise sees its own lots, gets 403
for another's, uploads a broken file and reads the errors line by line. Every page is screenshotted to
``test-artifacts/workbench/`` (and, with ``REETRACE_SCREENSHOTS=DIR``, the README's pictures to DIR).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reetrace
from tests.service_helpers import Server, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "workbench"
CHROMIUM = os.environ.get("REETRACE_CHROMIUM", "/usr/bin/chromium")
#: What the demo plants, so that the findings page has something to filter.
INJECT = ("laundering", "double_draw", "unmatched_custody", "late_report", "stock_gain")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    readme_dir = os.environ.get("REETRACE_SCREENSHOTS")
    if readme_dir:
        Path(readme_dir).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(readme_dir) / f"{name}.png"), full_page=False)


class Year:
    def __init__(self, db: str, tokens: dict[str, str], magnet: str, upstream: str, a: str, b_lot: str):
        self.db, self.tokens, self.magnet, self.upstream, self.a, self.b_lot = (
            db,
            tokens,
            magnet,
            upstream,
            a,
            b_lot,
        )


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Year:
    tmp = tmp_path_factory.mktemp("workbench")
    db = f"sqlite:///{tmp / 'year.db'}"
    reetrace.generate_dataset(tmp / "data", year=2025, scale=0.3, seed=11, inject=list(INJECT))
    store = reetrace.open_store(db)
    try:
        reetrace.load_dataset(store, tmp / "data")
        magnets = reetrace.search_lots(store, form="magnet", limit=50, order="recorded").hits
        best: tuple[int, str, str] | None = None
        for hit in magnets:
            back = reetrace.trace_back(store, hit.lot)
            ups = [n.lot for n in back.nodes if n.depth == 1]
            if ups and (best is None or len(back.nodes) > best[0]):
                best = (len(back.nodes), hit.lot, ups[0])
        assert best is not None, "the generated year has no traceable magnet"
        _, magnet, upstream = best
        a = magnet.partition(":")[0]
        other = next(h for h in reetrace.search_lots(store, form="oxide", limit=50).hits if h.enterprise != a)
        reetrace.add_principal(store, "operator", "admin")
        reetrace.add_principal(store, "inspector-1", "inspector")
        reetrace.add_principal(store, "ent-a", "enterprise", enterprise=a)
        tokens = {
            "inspector": reetrace.issue_token(store, "inspector-1").token,
            "A": reetrace.issue_token(store, "ent-a").token,
        }
    finally:
        store.dispose()
    return Year(db, tokens, magnet, upstream, a, other.lot)


@pytest.fixture(scope="module")
def server(year: Year) -> Iterator[Server]:
    srv = start_server(year.db, lock_timeout=30)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required at {CHROMIUM} (Debian package chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        try:
            yield b
        finally:
            b.close()


def _signed_in(browser: Any, server: Server, token: str, lang: str = "en-US") -> Any:
    ctx = browser.new_context(locale=lang, viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.goto(f"{server.url}/signin")
    page.fill("input[name=token]", token)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def test_an_inspector_finds_traces_and_follows_a_lot(browser: Any, server: Server, year: Year) -> None:
    page = _signed_in(browser, server, year.tokens["inspector"])
    assert page.url.endswith("/search")
    # A prefix as written on a drum, typed in lower case.
    page.fill("input[name=q]", year.magnet[:-1].lower())  # e.g. "shend01:r-2502-00001"
    page.click("form.filters input[type=submit]")
    page.wait_for_selector("table.results")
    _shot(page, "search")
    page.click(f"table.results a:text-is('{year.magnet}')")
    page.wait_for_selector("h1 .mono")
    assert year.magnet in page.inner_text("h1")
    _shot(page, "lot")

    page.click("text=Trace back to origins")
    page.wait_for_selector("svg.trace-graph")
    assert page.locator("table.origins tbody tr").count() >= 1
    _shot(page, "trace")
    # Click an upstream node in the graph and land on that lot's page.
    page.click(f"svg.trace-graph a.node[data-lot='{year.upstream}']")
    page.wait_for_url("**/lots/**")
    assert year.upstream in page.inner_text("h1")
    # Its forward trace: where its REO went, the magnet among the lots of the graph.
    page.goto(f"{server.url}/lots/{year.upstream}/trace?direction=forward")
    page.wait_for_selector("svg.trace-graph")
    assert "Trace forward" in page.inner_text("h1")
    assert page.locator("table tbody tr").count() >= 1
    assert page.locator(f"svg.trace-graph a.node[data-lot='{year.magnet}']").count() == 1
    _shot(page, "trace-forward")

    # The downloads are the CLI's formats.
    resp = page.request.get(f"{server.url}/lots/{year.magnet}/trace.json")
    assert resp.status == 200 and resp.json()["lot"] == year.magnet


def test_an_inspector_filters_findings_and_reads_dashboards(browser: Any, server: Server, year: Year) -> None:
    page = _signed_in(browser, server, year.tokens["inspector"])
    page.goto(f"{server.url}/findings?as_of=2026-03-01")
    page.wait_for_selector("table.findings")
    assert page.locator("table.findings tbody tr").count() > 0
    page.select_option("select[name=rule]", "unexplained_lot")
    page.click("form.filters input[type=submit]")
    page.wait_for_selector("table.findings")
    rules = page.locator("table.findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.rule)")
    assert rules and set(rules) == {"unexplained_lot"}
    _shot(page, "findings")
    csv = page.request.get(f"{server.url}/findings.csv?rule=unexplained_lot&as_of=2026-03-01")
    assert csv.status == 200 and csv.text().startswith("rule,severity")

    page.goto(f"{server.url}/submissions?period=2025-06")
    page.wait_for_selector("table.status")
    assert "late" in page.inner_text("main") or "on time" in page.inner_text("main")
    _shot(page, "submissions")
    page.goto(f"{server.url}/quota?year=2025")
    page.wait_for_selector("table.quota")
    assert page.locator("div.bar").count() > 0
    _shot(page, "quota")

    # The language switch: the same page in Chinese.
    page.click("a[data-lang='zh-CN']")
    page.wait_for_selector("table.quota")
    assert "指标" in page.inner_text("h1")
    _shot(page, "quota-zh")
    page.goto(f"{server.url}/findings?as_of=2026-03-01")
    assert "审计发现" in page.inner_text("h1")
    _shot(page, "findings-zh")
    # The summaries too, made by the library: Chinese, no English template words left.
    page.goto(f"{server.url}/findings?as_of=2026-03-01&rule=stock_gain")
    summaries = page.locator("table.findings tbody tr").all_inner_texts()
    assert summaries and all("盘点凭空增加" in s and "from nowhere" not in s for s in summaries), summaries


def test_a_chinese_browser_gets_chinese_pages(browser: Any, server: Server, year: Year) -> None:
    page = _signed_in(browser, server, year.tokens["inspector"], lang="zh-CN")
    assert "查找批次" in page.inner_text("h1")
    page.goto(f"{server.url}/lots/{year.magnet}/trace")
    page.wait_for_selector("svg.trace-graph")
    assert "向上追溯" in page.inner_text("h1")
    _shot(page, "trace-zh")


def test_an_enterprise_sees_its_own_and_nothing_else(browser: Any, server: Server, year: Year) -> None:
    page = _signed_in(browser, server, year.tokens["A"])
    assert page.url.endswith("/mine")
    page.goto(f"{server.url}/search?q={year.magnet.partition(':')[2].lower()}")
    page.wait_for_selector("table.results")
    lots = page.locator("table.results a").all_inner_texts()
    assert lots and all(lot.startswith(year.a + ":") for lot in lots)
    # Its own magnet: the origin summary, not the full graph.
    page.goto(f"{server.url}/lots/{year.magnet}/trace")
    assert page.locator("table.origins").count() == 1 and page.locator("svg.trace-graph").count() == 0
    _shot(page, "enterprise-summary")
    # Another enterprise's lot: 403 page.
    resp = page.goto(f"{server.url}/lots/{year.b_lot}")
    assert resp is not None and resp.status == 403
    _shot(page, "enterprise-403")
    for path in ("/findings", "/quota", "/submissions"):
        resp = page.goto(f"{server.url}{path}")
        assert resp is not None and resp.status == 403, path


def test_an_enterprise_uploads_a_broken_file_and_reads_every_error(
    browser: Any, server: Server, year: Year, tmp_path: Path
) -> None:
    page = _signed_in(browser, server, year.tokens["A"])
    bad = tmp_path / f"{year.a}-2026-01.jsonl"
    lines = [
        {"event_id": "X1", "type": "extract", "enterprise": year.a},
        None,  # a line that is not JSON
        {"event_id": "X2", "type": "consume", "enterprise": year.a, "site": "S",
         "occurred_at": "2026-01-05T10:00:00+08:00", "inputs": [{"lot": "L", "mass_kg": -5}]},
    ]  # fmt: skip
    bad.write_text(
        "".join((json.dumps(x) if x is not None else "not json") + "\n" for x in lines), encoding="utf-8"
    )
    before = _head(year.db)
    page.goto(f"{server.url}/upload")
    page.fill("input[name=period]", "2026-01")
    page.set_input_files("input[name=file]", str(bad))
    page.click("input[type=submit]")
    page.wait_for_selector("ol.errors")
    errors = page.locator("ol.errors li").all_inner_texts()
    assert (
        any(":1:" in e for e in errors)
        and any(":2:" in e for e in errors)
        and any(":3:" in e for e in errors)
    )
    assert "nothing was written" in page.inner_text("main")
    _shot(page, "upload-errors")
    assert _head(year.db) == before


def test_signing_in_with_a_bad_token_and_forms_without_csrf_are_refused(
    browser: Any, server: Server, year: Year
) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server.url}/findings")
    assert "/signin" in page.url  # the wall
    page.fill("input[name=token]", "rt_000000000000_" + "x" * 43)
    page.click("input[type=submit]")
    assert "unknown, expired or revoked" in page.inner_text("main")
    # A cross-site form post without the CSRF token changes nothing.
    signed = _signed_in(browser, server, year.tokens["A"])
    resp = signed.request.post(f"{server.url}/signout", form={"csrf": "forged"})
    assert resp.status == 403
    signed.goto(f"{server.url}/mine")
    assert signed.url.endswith("/mine")


def _head(db: str) -> tuple[int, bytes]:
    store = reetrace.open_store(db)
    try:
        return store.head()
    finally:
        store.dispose()
