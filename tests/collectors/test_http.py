"""Tests for collectors.http: error mapping, retries, Retry-After, breaker, rate limit, parsing helpers."""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.base import (
    Blocked,
    CollectorError,
    CollectorSettings,
    LoginRequired,
    NetworkError,
    ParseError,
    RateLimited,
    SourceGone,
)
from collectors.http import (
    MOBILE_UA,
    CircuitOpen,
    HostLimiters,
    HttpSettings,
    TokenBucket,
    clean_text,
    fetch_json,
    fetch_text,
    make_client,
    parse_count,
    parse_time,
    retry_after_seconds,
    scrub_surrogates,
)


class FakeClock:
    """Virtual time: sleep advances it instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def settings(**kw: object) -> CollectorSettings:
    base: dict[str, object] = {
        "base_url": "https://api.example.test",
        "rate_per_s": 1000.0,
        "burst": 100,
        "retries": 2,
        "backoff_base_s": 1.0,
        "backoff_max_s": 30.0,
    }
    base.update(kw)
    return CollectorSettings(**base)  # type: ignore[arg-type]


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock | None = None, **kw: object
):
    clock = clock or FakeClock()
    return make_client(
        settings(**kw),
        transport=httpx.MockTransport(handler),
        clock=clock,
        limiters=HostLimiters(clock),
        rng=random.Random(7),
    ), clock


async def test_json_ok_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": 1})

    cfg = HttpSettings(
        base_url="https://m.example.test",
        mobile=True,
        referer="https://m.example.test/",
        cookie_env="TEST_COOKIE",
    )
    client = make_client(cfg, transport=httpx.MockTransport(handler), environ={"TEST_COOKIE": "SUB=abc"})
    async with client:
        assert await fetch_json(client, "/api", params={"q": "咖啡"}) == {"ok": 1}
    request = seen[0]
    assert request.headers["user-agent"] == MOBILE_UA
    assert request.headers["referer"] == "https://m.example.test/"
    assert request.headers["cookie"] == "SUB=abc"
    assert request.url.params["q"] == "咖啡"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, "{}", LoginRequired),
        (403, "<html>Forbidden</html>", Blocked),
        (403, "<html>请先登录</html>", LoginRequired),
        (412, "{}", Blocked),
        (418, "", Blocked),
        (432, "", Blocked),
        (404, "", SourceGone),
        (410, "", SourceGone),
        (400, "", ParseError),
    ],
)
async def test_status_mapping(status: int, body: str, error: type[CollectorError]) -> None:
    client, _ = client_for(lambda r: httpx.Response(status, text=body))
    async with client:
        with pytest.raises(error):
            await fetch_json(client, "/x")
        assert client.request_count == 1  # not retried


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"ok": 1, "data": [1, 2', ParseError),
        ("<!DOCTYPE html><html><body>hello</body></html>", ParseError),
        ("<html><a href='https://passport.weibo.cn/signin'>登录</a></html>", LoginRequired),
        ("", ParseError),
        ("[" * 100_000, ParseError),
    ],
)
async def test_bad_bodies(body: str, error: type[CollectorError]) -> None:
    client, _ = client_for(lambda r: httpx.Response(200, text=body))
    async with client:
        with pytest.raises(error):
            await fetch_json(client, "/x")


async def test_login_redirect_is_login_required() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/x":
            return httpx.Response(302, headers={"location": "https://passport.example.test/signin/welcome"})
        return httpx.Response(200, text="<html>login</html>")

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(LoginRequired):
            await fetch_text(client, "/x")


async def test_captcha_redirect_is_blocked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/x":
            return httpx.Response(302, headers={"location": "/captcha?scene=limit"})
        return httpx.Response(200, text="<html>captcha</html>")

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(Blocked):
            await fetch_text(client, "/x")


async def test_5xx_retried_with_backoff_then_succeeds() -> None:
    calls = iter([500, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(calls)
        return httpx.Response(status, json={"ok": 1} if status == 200 else None)

    client, clock = client_for(handler)
    async with client:
        assert await fetch_json(client, "/x") == {"ok": 1}
    assert len(clock.slept) == 2
    assert 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0


async def test_5xx_exhausted_is_network_error() -> None:
    client, _ = client_for(lambda r: httpx.Response(503))
    async with client:
        with pytest.raises(NetworkError):
            await fetch_json(client, "/x")
        assert client.request_count == 3


async def test_transport_errors_are_network_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(NetworkError):
            await fetch_json(client, "/x")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = client_for(slow)
    async with client:
        with pytest.raises(NetworkError, match="timeout"):
            await fetch_json(client, "/x")


async def test_429_retry_after_honoured_then_raised_when_too_long() -> None:
    calls = iter([httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200, json=[1])])
    client, clock = client_for(lambda r: next(calls))
    async with client:
        assert await fetch_json(client, "/x") == [1]
    assert clock.slept == [7.0]

    client, clock = client_for(lambda r: httpx.Response(429, headers={"retry-after": "3600"}))
    async with client:
        with pytest.raises(RateLimited) as info:
            await fetch_json(client, "/x")
    assert info.value.retry_after == 3600.0
    assert clock.slept == []


def test_retry_after_http_date() -> None:
    now = datetime(2024, 3, 21, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Thu, 21 Mar 2024 00:01:00 GMT", now=now) == 60.0
    assert retry_after_seconds("garbage", now=now) is None
    assert retry_after_seconds(None) is None


async def test_breaker_opens_and_half_opens() -> None:
    status = {"code": 418}
    client, clock = client_for(
        lambda r: httpx.Response(status["code"], json={"ok": 1}), breaker_threshold=2, breaker_cooldown_s=100
    )
    async with client:
        for _ in range(2):
            with pytest.raises(Blocked):
                await fetch_json(client, "/x", source_key="s1")
        with pytest.raises(CircuitOpen) as info:
            await fetch_json(client, "/x", source_key="s1")
        assert info.value.health == "blocked"
        assert client.request_count == 2
        # Another source is unaffected.
        with pytest.raises(Blocked):
            await fetch_json(client, "/x", source_key="s2")
        clock.now += 101
        status["code"] = 200
        assert await fetch_json(client, "/x", source_key="s1") == {"ok": 1}
        assert not client.breakers.is_open("s1")


async def test_check_errors_count_for_breaker() -> None:
    def check(payload: object) -> None:
        raise LoginRequired("ok:-100")

    client, _ = client_for(lambda r: httpx.Response(200, json={"ok": -100}), breaker_threshold=1)
    async with client:
        with pytest.raises(LoginRequired):
            await fetch_json(client, "/x", source_key="k", check=check)
        with pytest.raises(CircuitOpen):
            await fetch_json(client, "/x", source_key="k")


async def test_rate_limit_spacing_on_virtual_clock() -> None:
    clock = FakeClock()
    stamps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now)
        return httpx.Response(200, json={})

    limiters = HostLimiters(clock)
    cfg = settings(rate_per_s=2.0, burst=3)
    a = make_client(cfg, transport=httpx.MockTransport(handler), limiters=limiters)
    b = make_client(cfg, transport=httpx.MockTransport(handler), limiters=limiters)
    async with a, b:
        for i in range(10):
            await fetch_json(a if i % 2 else b, "/x")
    # Burst of 3 at once, then one every 0.5 s, shared across both clients of the host.
    assert stamps[:3] == [1000.0] * 3
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(stamps[2:])]
    assert gaps == [0.5] * 7


async def test_redirect_hops_wait_for_tokens_of_the_host_they_go_to() -> None:
    clock = FakeClock()
    stamps: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append((f"{request.url.host}{request.url.path}", clock.now))
        if request.url.path == "/x":  # every call bounces through another host first
            return httpx.Response(302, headers={"location": "https://edge.example.test/r?to=/y"})
        if request.url.host == "edge.example.test":
            return httpx.Response(302, headers={"location": "https://api.example.test/y"})
        return httpx.Response(200, json={})

    client = make_client(
        settings(rate_per_s=1.0, burst=1),
        transport=httpx.MockTransport(handler),
        limiters=HostLimiters(clock),
    )
    async with client:
        for _ in range(2):
            await fetch_json(client, "/x")
    assert client.request_count == 6
    api = [at for where, at in stamps if where.startswith("api.")]
    edge = [at for where, at in stamps if where.startswith("edge.")]
    assert api == [1000.0, 1001.0, 1002.0, 1003.0]  # /x and its /y share one bucket: 1 per second
    assert edge == [1000.0, 1002.0]  # its own host, its own bucket (no wait at 1002: refilled)


@pytest.mark.parametrize("rate", [3.0, 7.0, 0.3, 13.0])
async def test_token_bucket_takes_one_sleep_per_token(rate: float) -> None:
    # 1/3 of a second times 3 tokens/s is 0.9999999999999999 of a token: the bucket used to sleep
    # for the 1e-16 rest, which a clock that moves only on sleep (or a coarse real one) never
    # registers, and spin.
    class Bounded(FakeClock):
        async def sleep(self, seconds: float) -> None:
            assert len(self.slept) < 100, "the bucket spins on a deficit smaller than the clock sees"
            await super().sleep(seconds)

    clock = Bounded()
    bucket = TokenBucket(rate, 2, clock)
    for _ in range(50):
        await bucket.acquire()
    assert len(clock.slept) == 48  # the burst of two is free, then one sleep per token
    assert clock.now == pytest.approx(1000.0 + 48 / rate)


async def test_plain_client_rejected() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(TypeError):
            await fetch_json(client, "https://x.test/")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("145.5万", 1_455_000),
        ("10万+", 100_000),
        ("1.2亿", 120_000_000),
        ("3,021", 3021),
        ("0", 0),
        (42, 42),
        (None, None),
        ("", None),
        ("2.5k", 2500),
        ("100万+", 1_000_000),
    ],
)
def test_parse_count(text: object, expected: int | None) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "1.2.3万",
        "-5",
        -5,
        True,
        [1],
        "万",
        float("nan"),
        "²",  # str.isdigit() says yes, int() says no
        "9" * 5000,  # beyond int()'s 4300-digit limit
        10**19,  # would not fit the 64-bit count columns
        1e300,
        "99999999999999999999亿",
    ],
)
def test_parse_count_rejects(bad: object) -> None:
    with pytest.raises(ParseError):
        parse_count(bad)


NOW = datetime(2024, 3, 21, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("刚刚", NOW),
        ("5分钟前", datetime(2024, 3, 21, 3, 55, tzinfo=UTC)),
        ("3小时前", datetime(2024, 3, 21, 1, 0, tzinfo=UTC)),
        ("昨天 12:30", datetime(2024, 3, 20, 4, 30, tzinfo=UTC)),
        ("今天 08:00", datetime(2024, 3, 21, 0, 0, tzinfo=UTC)),
        ("03-21", datetime(2024, 3, 20, 16, 0, tzinfo=UTC)),
        ("12-25", datetime(2023, 12, 24, 16, 0, tzinfo=UTC)),  # future month-day -> last year
        ("03-22", datetime(2023, 3, 21, 16, 0, tzinfo=UTC)),  # tomorrow's date is last year's too
        ("03-21 12:30", datetime(2024, 3, 21, 4, 30, tzinfo=UTC)),  # today, a little ahead of us
        ("3月22日", datetime(2023, 3, 21, 16, 0, tzinfo=UTC)),
        ("2024-03-21", datetime(2024, 3, 20, 16, 0, tzinfo=UTC)),
        ("2024-03-21 10:05", datetime(2024, 3, 21, 2, 5, tzinfo=UTC)),
        ("Thu, 21 Mar 2024 01:00:00 GMT", datetime(2024, 3, 21, 1, 0, tzinfo=UTC)),
        ("Thu, 21 Mar 2024 09:00:00 +0800", datetime(2024, 3, 21, 1, 0, tzinfo=UTC)),
        (1711000000, datetime(2024, 3, 21, 5, 46, 40, tzinfo=UTC)),
        ("1711000000", datetime(2024, 3, 21, 5, 46, 40, tzinfo=UTC)),
        (1711000000000, datetime(2024, 3, 21, 5, 46, 40, tzinfo=UTC)),
        ("Tue Jun 08 09:35:04 +0800 2021", datetime(2021, 6, 8, 1, 35, 4, tzinfo=UTC)),
        ("2019-12-08T03:48:33Z", datetime(2019, 12, 8, 3, 48, 33, tzinfo=UTC)),
    ],
)
def test_parse_time(text: object, expected: datetime) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "明天",
        "13-45",
        "Tue Foo 08 09:35:04 +0800 2021",
        "2024-02-30",
        None,
        -1,
        True,
        "Tue Jun 08 09:35:04 +2400 2021",  # offsets must stay under 24 h
        "Tue Jun 08 09:35:04 +9999 2021",
        "Mon Jan 01 00:00:00 +0800 0001",  # exists at +08:00, not in UTC
        "Fri Dec 31 23:59:59 -0800 9999",
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-08:00",
        "0001-01-01",
        datetime(1, 1, 1, 1, 0),  # naive: read in Shanghai, before year 1 in UTC
    ],
)
def test_parse_time_rejects(bad: object) -> None:
    with pytest.raises(ParseError):
        parse_time(bad, now=NOW)


def test_lone_surrogates_are_dropped_from_text_and_json() -> None:
    assert clean_text("好喝\ud83d") == "好喝"
    assert clean_text("\ud83d\ude00 ok") == "\U0001f600 ok"  # a split pair is joined again
    payload = {"a\ud800": ["x\udfff", {"b": "\ud83d"}], "n": 1}
    assert scrub_surrogates(payload) == {"a": ["x", {"b": ""}], "n": 1}


async def test_fetch_json_scrubs_lone_surrogate_escapes() -> None:
    body = '{"ok": 1, "data": {"text": "好喝\\ud83d", "list": ["\\udc00x"]}}'
    client, _ = client_for(lambda request: httpx.Response(200, text=body))
    async with client:
        data = await fetch_json(client, "/x")
    assert data == {"ok": 1, "data": {"text": "好喝", "list": ["x"]}}
    data["data"]["text"].encode("utf-8")


@given(
    st.one_of(
        st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),
        st.from_regex(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}", fullmatch=True),
        st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", fullmatch=True),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
        st.datetimes(),
    )
)
def test_parse_helpers_raise_only_parse_error(value: object) -> None:
    for parse in (parse_count, lambda v: parse_time(v, now=NOW)):
        with contextlib.suppress(ParseError):
            parse(value)
