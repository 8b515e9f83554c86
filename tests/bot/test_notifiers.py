"""Notifiers: Telegram through a real aiogram Bot and the fake Bot API server; WeCom, DingTalk and
Feishu through httpx.MockTransport (exact payloads, signatures recomputed independently, error
bodies with HTTP 200); console and file; secrets never shown; rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.notifiers import NOTIFIERS, Notifier
from bot.notifiers.base import Attachment, Notice, RateLimiter, RateRule, Secret, split_lines
from bot.notifiers.console import ConsoleNotifier, FileNotifier
from bot.notifiers.dingtalk import DingTalkNotifier, DingTalkRobot
from bot.notifiers.dingtalk import sign as dingtalk_sign
from bot.notifiers.feishu import FeishuNotifier, FeishuRobot
from bot.notifiers.feishu import sign as feishu_sign
from bot.notifiers.telegram import TelegramNotifier
from bot.notifiers.wecom import WeComNotifier
from tests.bot.fake_telegram import TOKEN, FakeTelegram, parse_html

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HOSTILE = '<script>alert("x")</script> & AT&T <@all> [点我](https://evil.example) **粗** `c` #h'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def no_wait_limiter() -> RateLimiter:
    clock = FakeClock()
    return RateLimiter(clock=clock, sleep=clock.sleep)


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An httpx MockTransport handler that records requests and answers from a script."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.responses:
            return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"})

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def test_registry_is_explicit_and_complete() -> None:
    assert set(NOTIFIERS) == {"telegram", "wecom", "dingtalk", "feishu", "console", "file"}
    for name, cls in NOTIFIERS.items():
        assert cls.name == name
        assert isinstance(cls.rate_limits, tuple)


@pytest.mark.parametrize(
    "bad", [{"title": " "}, {"title": "t", "level": "panic"}, {"title": "t", "body_lines": "one string"}]
)
def test_notice_rejects_malformed_input(bad: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Notice(**bad)  # type: ignore[arg-type]


def test_attachment_rejects_empty_and_bad_mime() -> None:
    with pytest.raises(ValueError):
        Attachment("a.png", "image/png", b"")
    with pytest.raises(ValueError):
        Attachment("a.png", "png", b"x")
    assert "PNG" not in repr(Attachment("a.png", "image/png", PNG))


def test_split_lines_by_utf8_bytes() -> None:
    text = "\n".join("中" * 100 for _ in range(50))  # 300 bytes per line
    chunks = split_lines(text, 1000)
    assert all(len(c.encode()) <= 1000 for c in chunks)
    assert all(line == "中" * 100 for c in chunks for line in c.split("\n"))
    long_line = "字" * 5000
    chunks = split_lines(long_line, 4096)
    assert all(len(c.encode()) <= 4096 for c in chunks) and "".join(chunks) == long_line


# --------------------------------------------------------------------------------------------
# Rate limiting


async def test_rate_limiter_sleeps_short_waits_and_reports_long_ones() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    rules = (RateRule(1, 1.0), RateRule(3, 60.0))
    assert await limiter.acquire("chat", rules, max_wait=2.0) is None
    assert await limiter.acquire("chat", rules, max_wait=2.0) is None  # slept 1 s for the 1/s rule
    assert clock.slept == [1.0]
    assert await limiter.acquire("chat", rules, max_wait=2.0) is None
    wait = await limiter.acquire("chat", rules, max_wait=2.0)  # 4th in a minute
    assert wait is not None and 55.0 < wait <= 60.0
    assert await limiter.acquire("other", rules, max_wait=2.0) is None  # keys are independent


# --------------------------------------------------------------------------------------------
# Telegram (real aiogram Bot against the fake Bot API server)


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def tg(fake_tg: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_tg.base_url)))
    notifier = TelegramNotifier(bot, limiter=no_wait_limiter())
    yield notifier
    await bot.session.close()


async def test_telegram_long_notice_is_split_and_hostile_text_shown_literally(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    lines = [f"{i:04d} {HOSTILE}" for i in range(120)]  # ~12,000 visible characters
    notice = Notice(
        "瑞幸 提及量激增 <b>",
        tuple(lines),
        level="warning",
        links=(("帖子 1", "https://weibo.com/1/A?x=1&y=2"), ("坏链接", "javascript:alert(1)")),
    )
    result = await tg.send(notice, "-1001234567890")
    assert result.ok, result.message
    calls = fake_tg.calls_of("sendMessage")
    assert len(calls) == result.parts_sent == result.parts_total >= 3
    texts = []
    for call in calls:
        assert call.params["chat_id"] == "-1001234567890"
        assert call.params["parse_mode"] == "HTML"
        text, error = parse_html(call.params["text"])
        assert error is None and len(text) <= 4096
        texts.append(text)
    whole = "".join(texts)
    assert "瑞幸 提及量激增 <b>" in whole and '<script>alert("x")</script> & AT&T' in whole
    for i in range(120):
        assert f"{i:04d} " in whole
    assert '<a href="https://weibo.com/1/A?x=1&amp;y=2">帖子 1</a>' in calls[-1].params["text"]
    assert "javascript:" not in calls[-1].params["text"].split("坏链接")[0]
    assert '<a href="javascript' not in calls[-1].params["text"]


async def test_telegram_feedback_buttons_go_under_the_last_text_part(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    from bot.notifiers.telegram import MAX_FEEDBACK_POSTS

    lines = [f"{i:04d} {HOSTILE}" for i in range(120)]  # three text parts
    posts = tuple((f"[{n}]", 100 + n) for n in range(1, MAX_FEEDBACK_POSTS + 6))
    result = await tg.send(Notice("摘要", tuple(lines), feedback=posts), "-1001")
    assert result.ok, result.message
    *first, last = fake_tg.calls_of("sendMessage")
    assert first and all("reply_markup" not in c.params for c in first)
    rows = last.params["reply_markup"]["inline_keyboard"]
    assert len(rows) == MAX_FEEDBACK_POSTS  # Telegram allows about 100 buttons per message
    assert rows[0] == [
        {"text": "[1] 情感有误 wrong", "callback_data": "fb:101"},
        {"text": "[1] 忽略作者 ignore", "callback_data": "ig:101"},
    ]
    text, _ = parse_html(last.params["text"])
    assert f"feedback buttons for the first {MAX_FEEDBACK_POSTS} posts" in text  # the cut is said
    with pytest.raises(ValueError):
        Notice("x", feedback=(("[1]", 0),))


async def test_telegram_429_gives_retry_after_and_resume_skips_sent_parts(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    notice = Notice("长消息", tuple("行" * 1000 for _ in range(10)))  # 3 parts
    fake_tg.fail_next("sendMessage", 429, retry_after=5)
    first = await tg.send(notice, "1001")
    assert (first.status, first.retry_after, first.parts_sent) == ("retry", 5.0, 0)
    fake_tg.calls.clear()
    resumed = await tg.send(notice, "1001", resume_from=2)
    assert resumed.ok and resumed.parts_sent == 3
    assert len(fake_tg.calls_of("sendMessage")) == 1


async def test_telegram_partial_delivery_reports_parts_sent(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    notice = Notice("长消息", tuple("字" * 1500 for _ in range(6)))
    total = len(fake_tg.calls)
    original = fake_tg._m_sendMessage
    count = 0

    async def third_fails(call):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        if count == 2:
            fake_tg.fail_next("sendMessage", 429, retry_after=9)
        return await original(call)

    fake_tg._m_sendMessage = third_fails  # type: ignore[method-assign]
    result = await tg.send(notice, "1001")
    assert (result.status, result.parts_sent, result.retry_after) == ("retry", 2, 9.0)
    assert len(fake_tg.calls) - total == 3


async def test_telegram_bad_request_and_bad_target_are_permanent(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    fake_tg.fail_next("sendMessage", 403, description="Forbidden: bot was kicked from the group chat")
    result = await tg.send(Notice("t"), "-100555")
    assert result.status == "failed" and "kicked" in result.message
    for bad in ["", "abc", "12 34", "@x", "1" * 30]:
        assert (await tg.send(Notice("t"), bad)).status == "failed"


async def test_telegram_server_error_is_retried_with_backoff(
    fake_tg: FakeTelegram, tg: TelegramNotifier
) -> None:
    fake_tg.fail_next("sendMessage", 502, description="Bad Gateway")
    result = await tg.send(Notice("t"), "1001")
    assert result.status == "retry" and result.retry_after is None


async def test_telegram_photos_media_group_and_documents(fake_tg: FakeTelegram, tg: TelegramNotifier) -> None:
    csv = "平台,帖子\nweibo,1\n".encode()
    notice = Notice(
        "日报",
        ("见附件",),
        attachments=(
            Attachment("声量 <1>.png", "image/png", PNG),
            Attachment("情感.png", "image/png", PNG + b"1"),
            Attachment("份额.png", "image/png", PNG + b"2"),
            Attachment("mentions.csv", "text/csv", csv),
            Attachment("单图" * 700 + ".png", "image/png", PNG + b"3"),
        ),
    )
    result = await tg.send(notice, "1001")
    assert result.ok and result.parts_total == 4, result
    assert [c.method for c in fake_tg.calls] == ["sendMessage", "sendMediaGroup", "sendDocument", "sendPhoto"]
    group = fake_tg.calls_of("sendMediaGroup")[0]
    assert len(group.params["media"]) == 3
    assert group.params["media"][0]["caption"] == "声量 &lt;1&gt;.png"
    assert sorted(data for _, data in group.files.values()) == sorted([PNG, PNG + b"1", PNG + b"2"])
    doc = fake_tg.calls_of("sendDocument")[0]
    assert list(doc.files.values()) == [("mentions.csv", csv)]
    photo = fake_tg.calls_of("sendPhoto")[0]
    caption, error = parse_html(photo.params["caption"])
    assert error is None and len(caption) <= 1024 and caption.endswith("…")


async def test_telegram_group_limit_20_per_minute_becomes_retry(fake_tg: FakeTelegram) -> None:
    clock = FakeClock()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake_tg.base_url)))
    tg = TelegramNotifier(bot, limiter=RateLimiter(clock=clock, sleep=clock.sleep), max_wait=3.0)
    try:
        for _ in range(20):
            assert (await tg.send(Notice("t"), "-1009")).ok
        assert clock.slept == [1.0] * 19  # one message per second in one chat
        late = await tg.send(Notice("t"), "-1009")
        assert late.status == "retry" and late.retry_after is not None and late.retry_after > 3.0
        assert len(fake_tg.calls_of("sendMessage")) == 20
    finally:
        await bot.session.close()


def test_telegram_from_env_needs_token_and_hides_it() -> None:
    with pytest.raises(ValueError, match="KOLWATCH_BOT_TOKEN"):
        TelegramNotifier.from_env({})
    notifier = TelegramNotifier.from_env(
        {"KOLWATCH_BOT_TOKEN": "123456:SECRET-token-value"}, api_base="http://127.0.0.1:9"
    )
    assert "SECRET-token-value" not in repr(notifier) and "123456" not in repr(notifier)


# --------------------------------------------------------------------------------------------
# WeCom


async def test_wecom_markdown_payload_exact() -> None:
    rec = Recorder()
    async with rec.client() as client:
        wecom = WeComNotifier({"default": Secret("wecom-key-123")}, client, limiter=no_wait_limiter())
        notice = Notice(
            "瑞幸 负面上升",
            ("负面占比 42%",),
            level="warning",
            links=(("帖子 1", "https://weibo.com/1/A(1)"),),
            feedback=(("帖子 1", 7),),  # buttons are Telegram's; a robot message has none
        )
        result = await wecom.send(notice, "default")
    assert result.ok
    (request,) = rec.requests
    assert str(request.url) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key-123"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "msgtype": "markdown",
        "markdown": {
            "content": (
                '<font color="warning">[预警]</font> **瑞幸 负面上升**\n负面占比 42%\n'
                "[帖子 1](https://weibo.com/1/A%281%29)"
            )
        },
    }


async def test_wecom_hostile_text_cannot_inject_markup() -> None:
    rec = Recorder()
    async with rec.client() as client:
        wecom = WeComNotifier({"default": Secret("wecom-key-123")}, client, limiter=no_wait_limiter())
        assert (await wecom.send(Notice(HOSTILE, (HOSTILE, "x\x00y\u202e")), "default")).ok
    content = rec.bodies()[0]["markdown"]["content"]  # type: ignore[index]
    body = content.split("\n", 1)[1]
    for token in ("<", ">", "[", "]", "`", "*", "#", "\x00"):
        assert token not in body
    assert "＜@all＞" in body and "AT&T" in body


async def test_wecom_splits_by_utf8_bytes_on_line_boundaries() -> None:
    rec = Recorder()
    lines = tuple(f"{i:03d} " + "中文" * 60 for i in range(100))  # ~36 KB of UTF-8
    async with rec.client() as client:
        wecom = WeComNotifier({"default": Secret("wecom-key-123")}, client, limiter=no_wait_limiter())
        result = await wecom.send(Notice("标题", lines), "default")
        text_mode = WeComNotifier(
            {"default": Secret("wecom-key-123")}, client, msgtype="text", limiter=no_wait_limiter()
        )
        text_result = await text_mode.send(Notice("标题", lines), "default")
    md = [b for b in rec.bodies() if b["msgtype"] == "markdown"]
    tx = [b for b in rec.bodies() if b["msgtype"] == "text"]
    assert result.ok and len(md) == result.parts_sent >= 9
    assert text_result.ok and len(tx) >= 18
    for body, limit in [(b["markdown"]["content"], 4096) for b in md] + [
        (b["text"]["content"], 2048) for b in tx
    ]:  # type: ignore[index]
        assert len(body.encode("utf-8")) <= limit
        for line in body.split("\n"):
            assert line in ("标题", "（续）", "**标题**") or line in lines
    seen = [line for b in md for line in b["markdown"]["content"].split("\n") if line[:3].isdigit()]  # type: ignore[index]
    assert seen == list(lines)


@pytest.mark.parametrize(
    ("response", "status", "after"),
    [
        (httpx.Response(200, json={"errcode": 45009, "errmsg": "api freq out of limit"}), "retry", 60.0),
        (httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"}), "failed", None),
        (httpx.Response(200, text="<html>gateway</html>"), "failed", None),
        (httpx.Response(200, json=["unexpected"]), "failed", None),
        (httpx.Response(200, json={"errmsg": "no code"}), "failed", None),
        (httpx.Response(503, text="busy", headers={"Retry-After": "7"}), "retry", 7.0),
        (httpx.Response(429, text="slow down"), "retry", 60.0),
        (httpx.Response(404, json={"errcode": 0}), "failed", None),
    ],
)
async def test_wecom_error_bodies_with_http_200_are_detected(
    response: httpx.Response, status: str, after: float | None
) -> None:
    rec = Recorder(response)
    async with rec.client() as client:
        wecom = WeComNotifier({"default": Secret("wecom-key-123")}, client, limiter=no_wait_limiter())
        result = await wecom.send(Notice("t"), "default")
    assert (result.status, result.retry_after) == (status, after)
    assert "wecom-key-123" not in result.message


async def test_wecom_image_inline_and_file_upload() -> None:
    rec = Recorder(
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}),
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}),
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "type": "file", "media_id": "MEDIA1"}),
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}),
    )
    csv = b"a,b\n1,2\n"
    async with rec.client() as client:
        wecom = WeComNotifier({"ops": Secret("wecom-key-ops")}, client, limiter=no_wait_limiter())
        notice = Notice(
            "日报",
            attachments=(
                Attachment("c.png", "image/png", PNG),
                Attachment("../../etc/passwd.csv", "text/csv", csv),
            ),
        )
        result = await wecom.send(notice, "ops")
    assert result.ok and result.parts_total == 3
    image = json.loads(rec.requests[1].content)
    assert image == {
        "msgtype": "image",
        "image": {"base64": base64.b64encode(PNG).decode(), "md5": hashlib.md5(PNG).hexdigest()},
    }
    upload = rec.requests[2]
    assert upload.url.path == "/cgi-bin/webhook/upload_media"
    assert upload.url.params["type"] == "file" and upload.url.params["key"] == "wecom-key-ops"
    assert b'name="media"' in upload.content and csv in upload.content and b"../" not in upload.content
    assert json.loads(rec.requests[3].content) == {"msgtype": "file", "file": {"media_id": "MEDIA1"}}


async def test_wecom_network_error_is_retry_and_unknown_robot_is_failure() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as client:
        wecom = WeComNotifier({"default": Secret("wecom-key-net")}, client, limiter=no_wait_limiter())
        result = await wecom.send(Notice("t"), "default")
        unknown = await wecom.send(Notice("t"), "nope")
    assert result.status == "retry" and "wecom-key-net" not in result.message
    assert unknown.status == "failed"


def test_wecom_from_env_accepts_key_or_url_and_names_targets() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
    wecom = WeComNotifier.from_env(
        {
            "KOLWATCH_WECOM_KEY": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123-def",
            "KOLWATCH_WECOM_KEY_PR": "pr-team-key",
            "OTHER": "x",
        },
        client,
    )
    assert repr(wecom) == "WeComNotifier(targets=['default', 'pr'], msgtype='markdown')"
    with pytest.raises(ValueError, match="KOLWATCH_WECOM_KEY"):
        WeComNotifier.from_env({}, client)
    with pytest.raises(ValueError, match="key="):
        WeComNotifier.from_env({"KOLWATCH_WECOM_KEY": "https://qyapi.weixin.qq.com/x?nokey=1"}, client)


# --------------------------------------------------------------------------------------------
# DingTalk


def test_dingtalk_signature_matches_independent_computation() -> None:
    secret, ts = "SEC0123456789abcdef", 1700000000123
    expected_b64 = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    signed = dingtalk_sign(secret, ts)
    assert unquote(signed) == expected_b64
    assert "+" not in signed and "/" not in signed and "=" not in signed  # URL-encoded
    # a worked value computed once with openssl: printf '1700000000123\nSEC0123456789abcdef' |
    # openssl dgst -sha256 -hmac SEC0123456789abcdef -binary | base64
    assert expected_b64 == "V9VP5gL2WDsEZvZQHnbd9k4n+p56ibcLMh+WKMZRQas="


async def test_dingtalk_signed_markdown_request_exact() -> None:
    rec = Recorder(httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}))
    robot = DingTalkRobot(Secret("dt-token-xyz"), Secret("SEC0123456789abcdef"))
    async with rec.client() as client:
        dt = DingTalkNotifier(
            {"default": robot}, client, clock_ms=lambda: 1700000000123, limiter=no_wait_limiter()
        )
        result = await dt.send(
            Notice(
                "库迪 声量",
                ("今日 132 条", "", "负面 12%"),
                level="critical",
                links=(("详情", "https://e.com/x"),),
            ),
            "default",
        )
    assert result.ok
    (request,) = rec.requests
    query = parse_qs(urlsplit(str(request.url)).query)
    assert query["access_token"] == ["dt-token-xyz"]
    assert query["timestamp"] == ["1700000000123"]
    assert query["sign"] == ["V9VP5gL2WDsEZvZQHnbd9k4n+p56ibcLMh+WKMZRQas="]
    assert json.loads(request.content) == {
        "msgtype": "markdown",
        "markdown": {
            "title": "库迪 声量",
            "text": "#### [严重] 库迪 声量\n\n今日 132 条\n\n负面 12%\n\n[详情](https://e.com/x)",
        },
    }


@pytest.mark.parametrize(
    ("body", "status", "after"),
    [
        ({"errcode": 130101, "errmsg": "send too fast"}, "retry", 600.0),
        ({"errcode": 310000, "errmsg": "sign not match"}, "failed", None),
        ({"errcode": 0, "errmsg": "ok"}, "ok", None),
    ],
)
async def test_dingtalk_error_codes(body: dict[str, object], status: str, after: float | None) -> None:
    rec = Recorder(httpx.Response(200, json=body))
    async with rec.client() as client:
        dt = DingTalkNotifier(
            {"default": DingTalkRobot(Secret("dt-token-xyz"))}, client, limiter=no_wait_limiter()
        )
        result = await dt.send(Notice("t"), "default")
    assert (result.status, result.retry_after) == (status, after)
    if body["errcode"] == 310000:
        assert "signature" in result.message
    assert "sign=" not in str(rec.requests[0].url)  # no secret -> unsigned


async def test_dingtalk_names_attachments_it_cannot_send() -> None:
    rec = Recorder()
    async with rec.client() as client:
        dt = DingTalkNotifier(
            {"default": DingTalkRobot(Secret("dt-token-xyz"))}, client, limiter=no_wait_limiter()
        )
        result = await dt.send(Notice("t", attachments=(Attachment("图.png", "image/png", PNG),)), "default")
    assert result.ok and "not sent" in result.message
    assert "1 个附件未随钉钉消息发送：图.png" in rec.bodies()[0]["markdown"]["text"]  # type: ignore[index]


def test_dingtalk_from_env_pairs_tokens_and_secrets() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
    dt = DingTalkNotifier.from_env(
        {
            "KOLWATCH_DINGTALK_TOKEN": "https://oapi.dingtalk.com/robot/send?access_token=tok123",
            "KOLWATCH_DINGTALK_SECRET": "SECabcdef123",
        },
        client,
    )
    assert repr(dt) == "DingTalkNotifier(targets=['default'])"
    with pytest.raises(ValueError, match="without KOLWATCH_DINGTALK_TOKEN"):
        DingTalkNotifier.from_env(
            {"KOLWATCH_DINGTALK_TOKEN": "tok123", "KOLWATCH_DINGTALK_SECRET_X": "SECx12345"}, client
        )


# --------------------------------------------------------------------------------------------
# Feishu


def test_feishu_signature_matches_independent_computation() -> None:
    secret, ts = "fs-secret-abc", 1599360473
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(secret, ts) == expected
    # the DingTalk construction (key = secret, msg = "ts\nsecret") must NOT match
    dingtalk_way = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    )
    assert feishu_sign(secret, ts) != dingtalk_way.decode()
    # computed once with openssl, independently of Python:
    #   printf '' | openssl dgst -sha256 -binary \
    #     -hmac "$(printf '1599360473\nfs-secret-abc')" | base64
    assert expected == "nImCIFlqaKQZro937o3fyVek29pxv9DkekVucL7ezSs="


async def test_feishu_signed_post_body_exact() -> None:
    rec = Recorder(httpx.Response(200, json={"code": 0, "msg": "success", "data": {}}))
    robot = FeishuRobot(Secret("hook-id-0001"), Secret("fs-secret-abc"))
    async with rec.client() as client:
        fs = FeishuNotifier({"default": robot}, client, clock_s=lambda: 1599360473, limiter=no_wait_limiter())
        result = await fs.send(
            Notice(
                "KOL 告警",
                (HOSTILE, ""),
                level="info",
                links=(("查看", "https://e.com/p"), ("坏", "ftp://x")),
            ),
            "default",
        )
    assert result.ok
    (request,) = rec.requests
    assert str(request.url) == "https://open.feishu.cn/open-apis/bot/v2/hook/hook-id-0001"
    assert json.loads(request.content) == {
        "timestamp": "1599360473",
        "sign": "nImCIFlqaKQZro937o3fyVek29pxv9DkekVucL7ezSs=",
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {
                    "title": "[通知] KOL 告警",
                    "content": [
                        [{"tag": "text", "text": HOSTILE}],
                        [{"tag": "a", "text": "查看", "href": "https://e.com/p"}],
                        [{"tag": "text", "text": "坏 ftp://x"}],
                    ],
                }
            }
        },
    }


@pytest.mark.parametrize(
    ("body", "status", "after"),
    [
        ({"code": 11232, "msg": "frequency limited"}, "retry", 60.0),
        (
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"},
            "failed",
            None,
        ),
        ({"code": 9499, "msg": "Bad Request"}, "failed", None),
        ({"StatusCode": 0, "StatusMessage": "success"}, "ok", None),
    ],
)
async def test_feishu_error_codes(body: dict[str, object], status: str, after: float | None) -> None:
    rec = Recorder(httpx.Response(200, json=body))
    async with rec.client() as client:
        fs = FeishuNotifier(
            {"default": FeishuRobot(Secret("hook-id-0001"))}, client, limiter=no_wait_limiter()
        )
        result = await fs.send(Notice("t"), "default")
    assert (result.status, result.retry_after) == (status, after)
    assert "hook-id-0001" not in result.message


async def test_feishu_splits_under_20kb() -> None:
    rec = Recorder()
    lines = tuple("舆情" * 400 for _ in range(40))  # 40 x 2.4 KB
    async with rec.client() as client:
        fs = FeishuNotifier(
            {"default": FeishuRobot(Secret("hook-id-0001"), Secret("s3cret-x"))},
            client,
            limiter=no_wait_limiter(),
        )
        result = await fs.send(Notice("大", (*lines, "x" * 50_000)), "default")
    assert result.ok and result.parts_sent >= 6
    for request in rec.requests:
        assert len(request.content) <= 20_000
    titles = [b["content"]["post"]["zh_cn"]["title"] for b in rec.bodies()]  # type: ignore[index]
    assert titles[0] == f"大 (1/{len(titles)})"
    texts = [
        el["text"] for b in rec.bodies() for row in b["content"]["post"]["zh_cn"]["content"] for el in row
    ]  # type: ignore[index]
    assert "".join(texts) == "".join(lines) + "x" * 50_000


def test_feishu_from_env_rejects_bad_hooks() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
    fs = FeishuNotifier.from_env(
        {"KOLWATCH_FEISHU_HOOK_OPS": "https://open.feishu.cn/open-apis/bot/v2/hook/abcd-1234-ef"}, client
    )
    assert repr(fs) == "FeishuNotifier(targets=['ops'])"
    for bad in ["https://open.feishu.cn/other", "../../x", "a b c d e f g h"]:
        with pytest.raises(ValueError):
            FeishuNotifier.from_env({"KOLWATCH_FEISHU_HOOK": bad}, client)


# --------------------------------------------------------------------------------------------
# Secrets never shown


async def test_secrets_never_appear_in_repr_results_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = Secret("very-secret-webhook-key-42")
    assert "very-secret" not in repr(secret) and "very-secret" not in str(secret)
    assert "very-secret" not in repr(DingTalkRobot(Secret("tok-very-secret-1"), secret))
    rec = Recorder(
        httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid key very-secret-webhook-key-42"})
    )
    async with rec.client() as client:
        wecom = WeComNotifier({"default": secret}, client, limiter=no_wait_limiter())
        result = await wecom.send(Notice("t"), "default")
        logging.getLogger("kolwatch.notify").info("posting to %s", rec.requests[0].url)
    assert result.status == "failed" and "very-secret" not in result.message
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx logged the URL...
    assert "very-secret-webhook-key-42" not in caplog.text  # ...redacted
    assert "***" in caplog.text


# --------------------------------------------------------------------------------------------
# Console and file


async def test_console_notifier_prints_plain_text() -> None:
    out = io.StringIO()
    result = await ConsoleNotifier(out).send(
        Notice("标题", ("a\x1b[2Jb",), level="critical", links=(("帖子", "https://e.com"),)), "ops"
    )
    assert result.ok
    assert out.getvalue() == "--- ops ---\n[严重] 标题\na[2Jb\n帖子: https://e.com\n"


async def test_file_notifier_keeps_hostile_names_inside_directory(tmp_path: Path) -> None:
    notifier = FileNotifier(tmp_path / "out")
    notice = Notice(
        "t",
        ("line",),
        dedup_key="k1",
        attachments=(
            Attachment("../../../evil.sh", "text/plain", b"echo"),
            Attachment("\x00", "text/plain", b"x"),
        ),
    )
    result = await notifier.send(notice, "../../etc/passwd")
    assert result.ok
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert all(str(p).startswith("out/") for p in files)
    (jsonl,) = [p for p in files if p.suffix == ".jsonl"]
    record = json.loads((tmp_path / jsonl).read_text(encoding="utf-8"))
    assert record["title"] == "t" and len(record["attachments"]) == 2
    assert (tmp_path / "out" / record["attachments"][0]).read_bytes() == b"echo"


async def test_file_notifier_writes_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A digest's attachments run to megabytes; the outbox shares its loop with the bot's polling.
    writers: list[int] = []
    write_bytes = Path.write_bytes

    def recording(self: Path, data: bytes) -> int:
        writers.append(threading.get_ident())
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", recording)
    notice = Notice("t", dedup_key="k", attachments=(Attachment("report.csv", "text/csv", b"a,b"),))
    assert (await FileNotifier(tmp_path).send(notice, "x")).ok
    assert writers and threading.get_ident() not in writers


async def test_file_notifier_reports_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = await FileNotifier(blocker / "sub").send(Notice("t"), "x")
    assert result.status == "failed"


def test_every_notifier_satisfies_the_protocol(tmp_path: Path) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
    instances: list[object] = [
        ConsoleNotifier(io.StringIO()),
        FileNotifier(tmp_path),
        WeComNotifier({"default": Secret("k" * 8)}, client),
        DingTalkNotifier({"default": DingTalkRobot(Secret("t" * 8))}, client),
        FeishuNotifier({"default": FeishuRobot(Secret("h" * 8))}, client),
    ]
    for instance in instances:
        assert isinstance(instance, Notifier)
