"""The workbench in Chinese all through: finding summaries, upload reasons, warnings and results made by
the library, shown over a real uvicorn (SQLite and PostgreSQL) in zh-CN and, unchanged, in English.

The store is the examples' world plus a month that NBMAG uploads through the page: an extract it is not
approved for at a site that is no mine, a ship that draws more than the lot holds and that nobody
receives, a stock-take gain, all late. An inspector saves a whole audit from the page; the findings
page then reads the saved run in both languages. A run saved before templates were kept still shows,
in English.
"""

from __future__ import annotations

import gzip
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

import reetrace
from reetrace.store.schema import audit_runs
from reetrace.web.session import COOKIE, LANG_COOKIE, csrf_token
from tests.service_helpers import A, Server, World, build_world, start_server

MONTH = [
    {"event_id": "X-0401", "type": "extract", "enterprise": A, "site": "NB-MAG",
     "occurred_at": "2025-04-02T10:00:00+08:00",
     "outputs": [{"lot": "SCR-0401", "product": "concentrate", "form": "concentrate", "mass_kg": 5000,
                  "reo_pct": 50}]},
    {"event_id": "X-0402", "type": "ship", "enterprise": A, "site": "NB-MAG",
     "occurred_at": "2025-04-03T10:00:00+08:00", "counterparty": "NMSEP",
     "inputs": [{"lot": "SCR-0401", "mass_kg": 6000}], "documents": {"waybill": "WB-0402"}},
    {"event_id": "X-0403", "type": "adjust", "enterprise": A, "site": "NB-MAG",
     "occurred_at": "2025-04-04T10:00:00+08:00", "reason": "stock-take",
     "outputs": [{"lot": "GAIN-0401", "product": "scrap", "form": "scrap", "mass_kg": 300, "reo_pct": 30}]},
]  # fmt: skip

#: Words of the English templates that a Chinese page must not show (one per finding kind planted).
ENGLISH_WORDS = (
    "drawn from a lot of",
    "no receive reported",
    "from nowhere",
    "without approval",
    "which is not a licensed mine",
    "after the deadline",
    "has not reported",
)
#: ... and what it shows instead.
CHINESE_WORDS = (
    "的批次中提取了",
    "对方未申报接收",
    "盘点凭空增加",
    "未获开采资质即进行开采",
    "不是持有采矿许可证的矿山",
    "在截止时间过后",
    "未报送",
)


def _text(page: str) -> str:
    """The visible text of a page, unescaped (enough to look for sentences)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _client(server: Server, token: str, lang: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, cookies={COOKIE: token, LANG_COOKIE: lang}, timeout=120, follow_redirects=False
    )


def _upload(server: Server, token: str, lang: str, name: str, body: bytes, period: str) -> httpx.Response:
    with _client(server, token, lang) as c:
        return c.post(
            "/upload",
            data={"period": period, "csrf": csrf_token(token)},
            files={"file": (name, body, "application/octet-stream")},
        )


@pytest.fixture(scope="module")
def world(module_db: str) -> World:
    return build_world(module_db)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    srv = start_server(world.db, lock_timeout=30)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def uploaded(server: Server, world: World) -> str:
    """The month, uploaded by NBMAG through the Chinese page: the result page it got back."""
    body = b"".join(orjson.dumps(e) + b"\n" for e in MONTH)
    resp = _upload(server, world.tokens["A"], "zh-CN", f"{A}-2025-04.jsonl", body, "2025-04")
    assert resp.status_code == 200, resp.text
    return resp.text


@pytest.fixture(scope="module")
def saved(server: Server, world: World, uploaded: str) -> list[dict[str, Any]]:
    """An inspector runs and saves the whole audit from the findings page; its findings."""
    token = world.tokens["inspector"]
    with _client(server, token, "zh-CN") as c:
        resp = c.post("/findings/run", data={"csrf": csrf_token(token)})
    assert resp.status_code == 303, resp.text
    store = reetrace.open_store(world.db)
    try:
        run = reetrace.latest_audit(store)
    finally:
        store.dispose()
    assert run is not None
    return run.findings


def test_an_upload_result_and_its_warnings_read_in_chinese(uploaded: str) -> None:
    text = _text(uploaded)
    # The result: where it was recorded, late (2025-04 was due long ago).
    assert "已在日志位置" in text and "逾期" in text and "北京时间" in text
    assert "recorded 3 events" not in text and "LATE" not in text
    # The warning on the ship that draws more than the lot holds: file, line and field kept, the
    # reason in Chinese with the numbers grouped as the English ones are.
    assert (
        f"{A}-2025-04.jsonl:2: inputs[0].mass_kg: {A}:SCR-0401 累计被提取 6,000.0 kg，超过其 5,000.0 kg"
        in text
    )
    assert "more than its" not in text


def test_the_findings_page_shows_chinese_summaries(server: Server, world: World, saved: list[Any]) -> None:
    rules = {f["rule"] for f in saved}
    assert {"overdrawn_lot", "unmatched_custody", "stock_gain", "unauthorised_actor", "reporting"} <= rules
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        page = c.get("/findings")
    assert page.status_code == 200 and page.headers["content-language"] == "zh-CN"
    text = _text(page.text)
    assert "审计发现" in text
    for english, chinese in zip(ENGLISH_WORDS, CHINESE_WORDS, strict=True):
        assert english not in text, english
        assert chinese in text, chinese
    # No English summary is left, whole or in part: every one was translated.
    for f in saved:
        assert f["summary"] not in text, f["summary"]
    # Numbers are grouped for the locale, lot codes verbatim, deadlines in Asia/Shanghai with offset.
    assert f"{A}:SCR-0401：从 5,000.0 kg 的批次中提取了 6,000.0 kg（+20.00%）" in text
    assert re.search(r"未报送 2025-04（截止时间 2025-05-10 23:59 \+08:00）", text)


def test_the_english_page_shows_the_librarys_text_unchanged(
    server: Server, world: World, saved: list[dict[str, Any]]
) -> None:
    with _client(server, world.tokens["inspector"], "en") as c:
        page = c.get("/findings")
    assert page.status_code == 200 and page.headers["content-language"] == "en"
    for f in saved:
        assert f"<td>{html.escape(f['summary'])}</td>" in page.text, f["summary"]
    assert f"{A}:SCR-0401: 6000.0 kg drawn from a lot of 5000.0 kg (+20.00%)" in _text(page.text)
    # The CSV download is the library's text too, whatever the page's language.
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        csv_text = c.get("/findings.csv").text
    assert "drawn from a lot of" in csv_text and "提取了" not in csv_text


def test_a_lot_page_shows_its_findings_in_chinese(server: Server, world: World, saved: list[Any]) -> None:
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        page = c.get(f"/lots/{A}:SCR-0401")
    assert page.status_code == 200
    text = _text(page.text)
    assert "的批次中提取了" in text and "对方未申报接收" in text
    assert "drawn from a lot of" not in text and "no receive reported" not in text


def test_a_broken_upload_reads_in_chinese_line_by_line(server: Server, world: World) -> None:
    lines = [
        orjson.dumps({"event_id": "B1", "type": "extract", "enterprise": A}),
        b"not json",
        orjson.dumps({"event_id": "B3", "type": "consume", "enterprise": A, "site": "NB-MAG",
                      "occurred_at": "2025-05-05T10:00:00+08:00", "inputs": [{"lot": "L", "mass_kg": -5}]}),
    ]  # fmt: skip
    body = b"\n".join(lines) + b"\n"
    before = reetrace.open_store(world.db)
    try:
        head = before.head()
    finally:
        before.dispose()
    zh = _upload(server, world.tokens["A"], "zh-CN", "broken.jsonl", body, "2025-05")
    assert zh.status_code == 422
    items = [_text(li).strip() for li in re.findall(r"<li>(.*?)</li>", zh.text, flags=re.S)]
    assert "broken.jsonl:1: occurred_at: 缺少必填字段" in items
    assert any(i.startswith("broken.jsonl:2: event: 不是有效的 JSON：") for i in items), items
    assert "broken.jsonl:3: inputs[0].mass_kg: 应大于 0" in items
    assert "未写入任何内容" in _text(zh.text)
    for english in ("Field required", "not valid JSON", "Input should be", "nothing was written"):
        assert english not in zh.text, english
    # The same file in English: today's words, exactly as the CLI and the API give them.
    en = _upload(server, world.tokens["A"], "en", "broken.jsonl", body, "2025-05")
    assert en.status_code == 422
    items = [_text(li).strip() for li in re.findall(r"<li>(.*?)</li>", en.text, flags=re.S)]
    assert "broken.jsonl:1: occurred_at: Field required" in items
    assert "broken.jsonl:3: inputs[0].mass_kg: Input should be greater than 0" in items
    after = reetrace.open_store(world.db)
    try:
        assert after.head() == head  # nothing was written, in either language
    finally:
        after.dispose()


def test_a_bad_period_on_the_dashboard_reads_in_chinese(server: Server, world: World) -> None:
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        page = c.get("/submissions", params={"period": "2025-13"})
    assert page.status_code == 200
    assert "期间 '2025-13' 不是 YYYY-MM 格式" in _text(page.text) and "is not YYYY-MM" not in page.text


def test_why_a_search_hit_matched_reads_in_chinese(server: Server, world: World) -> None:
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        zh = c.get("/search", params={"q": "boc"}).text
        waybill = c.get("/search", params={"q": "WB-88121"}).text
    assert '<td class="hint">批次号</td>' in zh
    assert '<td class="hint">单据 运单</td>' in waybill
    with _client(server, world.tokens["inspector"], "en") as c:
        en = c.get("/search", params={"q": "boc"}).text
    assert '<td class="hint">lot</td>' in en


def test_a_run_saved_before_templates_were_kept_still_shows_in_english(
    server: Server, world: World, saved: list[dict[str, Any]]
) -> None:
    # A run as the workbench saved it before this change: the audit's JSON, nothing beside it.
    store = reetrace.open_store(world.db)
    try:
        position, head = store.head()
        result = reetrace.run_audit(store)
        body = gzip.compress(orjson.dumps(result.to_dict()))
        row = {
            "id": "0ld0ld0ld0ld0ld0", "position": position, "head": head.hex(),
            "as_of": result.as_of.isoformat(), "created_at": datetime.now(UTC).isoformat(),
            "seconds": 1.0, "body": body,
        }  # fmt: skip
        with store.engine.begin() as conn:
            conn.execute(sa.insert(audit_runs).values(**row))
        old = reetrace.latest_audit(store)
    finally:
        store.dispose()
    assert old is not None and old.id == "0ld0ld0ld0ld0ld0"
    with _client(server, world.tokens["inspector"], "zh-CN") as c:
        page = c.get("/findings")
    assert page.status_code == 200
    text = _text(page.text)
    assert "审计发现" in text  # the page is Chinese ...
    for f in old.findings:  # ... and each summary shows as it was saved
        assert f["summary"] in text, f["summary"]
