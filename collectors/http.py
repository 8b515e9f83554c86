"""The collectors' shared HTTP layer: client factory, politeness, retries, error mapping, parsing helpers.

Every collector talks to its platform through this module and nothing else:

    client = make_client(settings, transport=None)          # -> PoliteClient (an httpx.AsyncClient)
    data = await fetch_json(client, "/api/x", params={...}, source_key="weibo:user:123",
                            check=my_envelope_check)        # -> parsed JSON (Any)
    html = await fetch_text(client, "https://s.weibo.com/top/summary", source_key=...)

What `fetch_json` / `fetch_text` do for every call:
- wait for a token of the per-host token bucket (`settings.rate_per_s`, `settings.burst`). Buckets are
  shared by every client and source in the same event loop that talks to the same host:port, so two
  sources of one platform never double the request rate;
- refuse at once with `CircuitOpen` while the source's breaker is open (`settings.breaker_threshold`
  consecutive failed calls open it for `settings.breaker_cooldown_s`; one trial call after that);
- retry timeouts, transport errors and 5xx with exponential backoff and jitter (`retries`,
  `backoff_base_s`, `backoff_max_s`); 429/503 with a `Retry-After` no longer than `backoff_max_s` are
  retried after exactly that delay;
- map failures onto the CollectorError tree:
    429 (or out of retries)                   -> RateLimited(retry_after)
    401, redirect to a login/passport/visitor page, HTML login wall -> LoginRequired
    403, 412, 418, 432, captcha redirect      -> Blocked
    404, 410                                  -> SourceGone
    5xx / timeouts / transport after retries  -> NetworkError
    HTML where JSON was expected, truncated or invalid JSON, other 4xx -> ParseError
- run `check(payload)` (the platform's envelope check, e.g. Weibo `ok:-100`) inside the call so its
  errors count for the breaker too.

Time comes from an injectable `Clock` (`monotonic()` + `async sleep()`), so tests run backoffs and
rate limits on a fast-forward clock (`ScaledClock`) without waiting.

Parsing helpers shared by the platform parsers: `parse_count("145.5万") -> 1455000` and
`parse_time("5分钟前", now=...) -> aware UTC datetime`; both raise ParseError on what they do not know.

Cookies come from the environment (`HttpSettings.cookie_env`, e.g. KOLWATCH_WEIBO_COOKIE), never from
settings files, and are never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import re
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import httpx
from pydantic import Field

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

log = logging.getLogger(__name__)

# China has had no DST since 1991, so a fixed offset is exact for every post we will ever see and
# avoids depending on the system tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


class HttpSettings(CollectorSettings):
    """CollectorSettings plus what the client factory needs to look like a browser of the platform."""

    # Name of the environment variable holding the Cookie header (never the cookie itself).
    cookie_env: str = ""
    referer: str = ""
    mobile: bool = False
    headers: dict[str, str] = Field(default_factory=dict)


class CircuitOpen(CollectorError):
    """The source's breaker is open: too many consecutive failures; retry after `retry_after` s.

    `health` is the health class of the failure that opened the breaker, so the source keeps
    showing its real problem (e.g. "login_required") instead of a generic state.
    """

    def __init__(self, message: str, *, health: str, retry_after: float, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.health = health  # type: ignore[misc]
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------- clock


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ScaledClock:
    """Fast-forward time: `factor` virtual seconds pass per real second.

    Used by tests and the demo so that a Retry-After of 30 s or a 1 req/s limit costs milliseconds,
    while every duration stays consistent between the client and a fake server that shares it.
    """

    def __init__(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._origin = time.monotonic()
        self.slept: list[float] = []  # virtual seconds asked for, for assertions

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(max(0.0, seconds) / self.factor)


# ---------------------------------------------------------------------------------------- rate limit


class TokenBucket:
    """Async token bucket: `rate` tokens per second, at most `burst` banked. Waiters are FIFO."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> float:
        """Take one token, sleeping until one is there; returns the virtual seconds waited."""

        waited = 0.0
        async with self._lock:
            self._refill()
            # A deficit below the clock's resolution would sleep for nothing and spin: it counts as
            # a whole token (the 1e-9 of a token it borrows is repaid by the next refill).
            while self._tokens < 1.0 - 1e-9:
                delay = (1.0 - self._tokens) / self.rate
                await self.clock.sleep(delay)
                waited += delay
                self._refill()
            self._tokens -= 1.0
        return waited


class HostLimiters:
    """host:port -> TokenBucket. A second caller with other numbers gets the stricter of the two."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, host: str, rate: float, burst: int) -> TokenBucket:
        existing = self._buckets.get(host)
        if existing is None:
            existing = self._buckets[host] = TokenBucket(rate, burst, self.clock)
        else:
            existing.rate = min(existing.rate, rate)
            existing.burst = min(existing.burst, burst)
        return existing


# asyncio primitives belong to one event loop, so the process-wide sharing is per loop.
_LOOP_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HostLimiters] = (
    weakref.WeakKeyDictionary()
)


def _loop_limiters() -> HostLimiters:
    loop = asyncio.get_running_loop()
    limiters = _LOOP_LIMITERS.get(loop)
    if limiters is None:
        limiters = _LOOP_LIMITERS[loop] = HostLimiters()
    return limiters


# ----------------------------------------------------------------------------------- circuit breaker


@dataclass
class _BreakerState:
    failures: int = 0
    open_until: float = 0.0
    last_health: str = "error"
    last_message: str = ""


class Breakers:
    """Per-source circuit breakers (source key -> consecutive failures, open-until time)."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Clock) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[str, _BreakerState] = {}

    def check(self, key: str) -> None:
        state = self._states.get(key)
        if state is None or state.failures < self.threshold:
            return
        remaining = state.open_until - self.clock.monotonic()
        if remaining > 0:
            raise CircuitOpen(
                f"circuit open for {key} after {state.failures} failures ({state.last_health}: "
                f"{state.last_message}); retry in {remaining:.0f}s",
                health=state.last_health,
                retry_after=remaining,
            )
        # Half-open: let this one call through; its outcome closes or reopens the breaker.

    def success(self, key: str) -> None:
        self._states.pop(key, None)

    def failure(self, key: str, error: CollectorError) -> None:
        state = self._states.setdefault(key, _BreakerState())
        state.failures += 1
        state.last_health = error.health
        state.last_message = error.message[:200]
        if state.failures >= self.threshold:
            state.open_until = self.clock.monotonic() + self.cooldown_s

    def failures(self, key: str) -> int:
        state = self._states.get(key)
        return state.failures if state else 0

    def is_open(self, key: str) -> bool:
        state = self._states.get(key)
        return bool(state and state.failures >= self.threshold and state.open_until > self.clock.monotonic())


# ------------------------------------------------------------------------------------------- client


class PoliteClient(httpx.AsyncClient):
    """An httpx.AsyncClient that carries the politeness state `fetch_json`/`fetch_text` use."""

    def __init__(
        self,
        *,
        settings: CollectorSettings,
        clock: Clock,
        limiters: HostLimiters | None,
        breakers: Breakers,
        rng: random.Random,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.clock = clock
        self.limiters = limiters
        self.breakers = breakers
        self.rng = rng
        self.request_count = 0
        self.event_hooks = {
            "request": [*self.event_hooks["request"], self._take_token],
            "response": self.event_hooks["response"],
        }

    def limiter_for(self, host: str) -> TokenBucket:
        limiters = self.limiters if self.limiters is not None else _loop_limiters()
        return limiters.bucket(host, self.settings.rate_per_s, self.settings.burst)

    async def _take_token(self, request: httpx.Request) -> None:
        # httpx runs request hooks for every hop, so a redirect waits for a token of the host it
        # goes to like any other request: a platform that bounces each call through a visitor or
        # login page (Weibo's passport) must not see twice the configured rate.
        await self.limiter_for(f"{request.url.host}:{request.url.port or ''}").acquire()
        self.request_count += 1


def make_client(
    settings: CollectorSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | str | None = None,
    clock: Clock | None = None,
    limiters: HostLimiters | None = None,
    breakers: Breakers | None = None,
    rng: random.Random | None = None,
    environ: Mapping[str, str] | None = None,
) -> PoliteClient:
    """Build the client for one platform.

    `base_url` defaults to `settings.base_url`. Headers: a realistic browser set (mobile Safari when
    `HttpSettings.mobile`, else desktop Chrome; `settings.user_agent` overrides), `Referer` from
    `HttpSettings.referer`, then `HttpSettings.headers`, then `headers`. `cookies` is a mapping or a
    raw `Cookie` header string; when None, the environment variable named by
    `HttpSettings.cookie_env` is read (from `environ`, default os.environ). `limiters=None` shares
    buckets with every other client of the running event loop; pass a HostLimiters to isolate.
    """

    clock = clock or (limiters.clock if limiters is not None else SystemClock())
    http_settings = settings if isinstance(settings, HttpSettings) else None
    mobile = bool(http_settings and http_settings.mobile)
    merged: dict[str, str] = {
        "User-Agent": settings.user_agent or (MOBILE_UA if mobile else DESKTOP_UA),
        "Accept": "application/json, text/plain, */*",
        "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.6",
    }
    if http_settings is not None:
        if http_settings.referer:
            merged["Referer"] = http_settings.referer
        merged.update(http_settings.headers)
    if headers:
        merged.update(headers)

    if cookies is None and http_settings is not None and http_settings.cookie_env:
        env = os.environ if environ is None else environ
        cookies = env.get(http_settings.cookie_env) or None
    if isinstance(cookies, str):
        merged["Cookie"] = cookies.strip()
        cookie_jar: Mapping[str, str] | None = None
    else:
        cookie_jar = cookies

    return PoliteClient(
        settings=settings,
        clock=clock,
        limiters=limiters,
        breakers=breakers or Breakers(settings.breaker_threshold, settings.breaker_cooldown_s, clock),
        rng=rng or random.Random(),
        base_url=base_url if base_url is not None else settings.base_url,
        headers=merged,
        cookies=cookie_jar,
        transport=transport,
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=True,
        max_redirects=5,
    )


# ------------------------------------------------------------------------------------------ fetching

_LOGIN_URL = re.compile(r"passport\.|/signin|/login|login\.php|visitor|/sso/", re.IGNORECASE)
_CAPTCHA_URL = re.compile(r"captcha|verify|risk", re.IGNORECASE)
_LOGIN_TEXT = re.compile(r"passport\.weibo|登录|請登入|请先登录|signin|login", re.IGNORECASE)


class _Retry(Exception):
    """Internal: the attempt failed with `error`; try again after `delay` (None = computed backoff)."""

    def __init__(self, error: CollectorError, delay: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.delay = delay


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date. None when absent or unreadable."""

    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _redirected_to(response: httpx.Response) -> str | None:
    for hop in (*response.history, response):
        if hop.is_redirect:
            location = hop.headers.get("location", "")
            if _CAPTCHA_URL.search(location) or _LOGIN_URL.search(location):
                return location
    if response.history and (_LOGIN_URL.search(str(response.url)) or _CAPTCHA_URL.search(str(response.url))):
        return str(response.url)
    return None


def _classify(response: httpx.Response, settings: CollectorSettings) -> None:
    """Raise the CollectorError (or _Retry) an unsuccessful response means; return if it is 2xx."""

    url = str(response.url)
    status = response.status_code
    wall = _redirected_to(response)
    if wall is not None:
        if _CAPTCHA_URL.search(wall) and not _LOGIN_URL.search(wall):
            raise Blocked(f"redirected to a captcha page ({wall})", url=url)
        raise LoginRequired(f"redirected to a login page ({wall}); the cookie is missing or expired", url=url)
    if 200 <= status < 300:
        return
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        error = RateLimited(f"HTTP 429 from {response.url.host}", retry_after=retry_after, url=url)
        if retry_after is not None and retry_after <= settings.backoff_max_s:
            raise _Retry(error, retry_after)
        raise error
    if status >= 500:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        delay = retry_after if retry_after is not None and retry_after <= settings.backoff_max_s else None
        raise _Retry(NetworkError(f"HTTP {status} from {response.url.host}", url=url), delay)
    if status == 401:
        raise LoginRequired("HTTP 401: login or a valid cookie is required", url=url)
    if status == 403:
        if _LOGIN_TEXT.search(response.text[:2000]):
            raise LoginRequired("HTTP 403 with a login wall", url=url)
        raise Blocked("HTTP 403: access denied (risk control)", url=url)
    if status in (412, 418, 432):
        raise Blocked(f"HTTP {status}: blocked by the platform's risk control", url=url)
    if status in (404, 410):
        raise SourceGone(f"HTTP {status}: not found", url=url)
    if 300 <= status < 400:
        raise ParseError(f"HTTP {status} redirect we did not follow", url=url)
    raise ParseError(f"unexpected HTTP {status}", url=url)


def _decode_json(response: httpx.Response) -> Any:
    url = str(response.url)
    text = response.text
    stripped = text.lstrip()
    if not stripped:
        raise ParseError("empty body where JSON was expected", url=url)
    if stripped.startswith("<"):
        if _LOGIN_TEXT.search(stripped[:4000]):
            raise LoginRequired("HTML login page where JSON was expected", url=url)
        raise ParseError("HTML where JSON was expected", url=url)
    try:
        value = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"truncated or invalid JSON ({exc.__class__.__name__})", url=url) from None
    # A "\\ud83d" escape (an emoji cut in half by the platform) decodes to a lone surrogate, which
    # no UTF-8 consumer (lxml, the database, the notifiers) accepts: drop them once, here.
    if _SURROGATE_ESCAPE.search(stripped):
        value = scrub_surrogates(value)
    return value


def _backoff(client: PoliteClient, attempt: int) -> float:
    settings = client.settings
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2**attempt))
    # Half fixed, half random: spreads retries of many sources without ever retrying instantly.
    return ceiling / 2 + client.rng.uniform(0, ceiling / 2)


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    source_key: str | None,
    decode: Callable[[httpx.Response], Any],
    check: Callable[[Any], None] | None,
) -> Any:
    if not isinstance(client, PoliteClient):
        raise TypeError("fetch_json/fetch_text need a client from collectors.http.make_client")
    key = source_key or url
    client.breakers.check(key)
    try:
        request = client.build_request("GET", url, params=params, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ParseError(f"cannot build request for {url!r}: {exc}") from None
    attempts = client.settings.retries + 1
    last: CollectorError | None = None
    for attempt in range(attempts):
        try:
            try:
                response = await client.send(request)
            except httpx.TimeoutException as exc:
                raise _Retry(
                    NetworkError(f"timeout: {exc.__class__.__name__}", url=str(request.url))
                ) from None
            except httpx.TooManyRedirects:
                raise LoginRequired(
                    "redirect loop (often a missing visitor cookie)", url=str(request.url)
                ) from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                raise _Retry(NetworkError(f"{exc.__class__.__name__}: {exc}", url=str(request.url))) from None
            _classify(response, client.settings)
            value = decode(response)
            if check is not None:
                check(value)
        except _Retry as retry:
            last = retry.error
            if attempt + 1 < attempts:
                delay = retry.delay if retry.delay is not None else _backoff(client, attempt)
                log.debug("retrying %s in %.1fs: %s", request.url.path, delay, retry.error)
                await client.clock.sleep(delay)
                continue
            break
        except CollectorError as error:
            client.breakers.failure(key, error)
            raise
        client.breakers.success(key)
        return value
    assert last is not None
    client.breakers.failure(key, last)
    raise last


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    source_key: str | None = None,
    check: Callable[[Any], None] | None = None,
) -> Any:
    """GET `url` (relative to the client's base_url or absolute) and return the decoded JSON.

    `source_key` names the breaker (default: the URL). `check(payload)` may raise a CollectorError
    for an error envelope; it then counts as a failure of the source. Raises only CollectorError
    subclasses (plus TypeError for a client that make_client did not build).
    """

    return await _fetch(
        client, url, params=params, headers=headers, source_key=source_key, decode=_decode_json, check=check
    )


async def fetch_text(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    source_key: str | None = None,
    check: Callable[[Any], None] | None = None,
) -> str:
    """Like fetch_json, but returns the body as text (HTML pages, feeds)."""

    def decode(response: httpx.Response) -> str:
        return response.text

    result: str = await _fetch(
        client, url, params=params, headers=headers, source_key=source_key, decode=decode, check=check
    )
    return result


# ------------------------------------------------------------------------------------------ parsing

_SURROGATES = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def clean_text(value: str) -> str:
    """`value` without lone UTF-16 surrogates (half an emoji); proper pairs are joined into one character.

    Surrogates cannot be encoded as UTF-8, so lxml, SQLite and every notifier raise on them.
    """

    if _SURROGATES.search(value) is None:
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")


def scrub_surrogates(value: Any) -> Any:
    """Decoded JSON with `clean_text` applied to every string and key (in place for containers)."""

    if isinstance(value, str):
        return clean_text(value)
    stack = [value] if isinstance(value, dict | list) else []
    while stack:  # iterative: JSON nesting can be deeper than the recursion limit allows twice
        node = stack.pop()
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = clean_text(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
            continue
        for key in list(node):
            item = node[key]
            if isinstance(item, str):
                item = clean_text(item)
            elif isinstance(item, dict | list):
                stack.append(item)
            if isinstance(key, str) and _SURROGATES.search(key):
                del node[key]
                key = clean_text(key)
            node[key] = item
    return value


# Far above any real count (views of the most watched video are ~1e10) and inside a 64-bit column.
MAX_COUNT = 10**15

_COUNT = re.compile(r"^(\d{1,20}(?:\.\d{1,20})?)\s*(万|w|W|亿|千|k|K)?\s*\+?$")
_UNITS = {
    None: 1,
    "万": 10_000,
    "w": 10_000,
    "W": 10_000,
    "亿": 100_000_000,
    "千": 1_000,
    "k": 1_000,
    "K": 1_000,
}


def parse_count(value: object) -> int | None:
    """A platform count as an int: 3021, "3,021", "145.5万", "10万+", "1.2亿", "2.3k". None/""/"-" -> None.

    Display strings are lower bounds ("10万+" -> 100000). Anything else raises ParseError.
    """

    if value is None:
        return None
    if isinstance(value, bool):
        raise ParseError(f"count is a boolean: {value!r}")
    if isinstance(value, int):
        if value < 0 or value > MAX_COUNT:
            raise ParseError(f"count out of range: {str(value)[:30]}")
        return value
    if isinstance(value, float):
        if value != value or value < 0 or value > MAX_COUNT:
            raise ParseError(f"bad count: {value!r}")
        return round(value)
    if not isinstance(value, str):
        raise ParseError(f"count of unexpected type {type(value).__name__}")
    text = value.strip().replace(",", "").replace("，", "")
    if text in ("", "-", "--"):
        return None
    match = _COUNT.match(text)
    if match is None:
        raise ParseError(f"unreadable count: {value[:40]!r}")
    number, unit = match.groups()
    # Decimal-exact for "145.5万": go through integer arithmetic on the digits.
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit]
    result = int(whole) * scale
    if frac:
        result += int(frac) * scale // (10 ** len(frac))
    if result > MAX_COUNT:
        raise ParseError(f"count out of range: {value[:40]!r}")
    return result


_WEIBO_TIME = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4}) (\d{4})$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_RELATIVE = re.compile(r"^(\d+)\s*(秒|分钟|小时|天)前$")
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_FULL_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_CN_DATE = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日\s*(?:(\d{1,2}):(\d{2}))?$")
_DIGITS = re.compile(r"^\d{9,13}(?:\.\d+)?$")


def _local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)
    except ValueError as exc:
        raise ParseError(f"impossible date {year}-{month}-{day} {hour}:{minute}: {exc}") from None


def _from_unix(seconds: float) -> datetime:
    if seconds > 10**11:  # milliseconds (some APIs), not seconds in the year 5000
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ParseError(f"bad unix time {seconds!r}: {exc}") from None


def _latest_month_day(
    month: int, day: int, hour: int, minute: int, local_now: datetime, text: str
) -> datetime:
    """A month-day without a year: the latest such date that is not after today (Shanghai).

    Dates, not times, are compared: "03-22" read on 03-21 is last year's, while "03-21 12:30" read
    at 12:00 is today's (the platform's clock runs a little ahead of ours). Feb 29 may be years back.
    """

    today = local_now.date()
    for year in range(local_now.year, local_now.year - 9, -1):
        try:
            when = datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
        except ValueError:
            continue
        if when.date() <= today:
            return when
    raise ParseError(f"impossible month-day {text!r}")


def parse_time(value: object, *, now: datetime | None = None) -> datetime:
    """A platform time as an aware UTC datetime.

    Accepts unix seconds (int/float/digit string; milliseconds too), Weibo's
    "Tue Jun 08 09:35:04 +0800 2021", RFC 822, ISO 8601, "2024-03-21[ 12:30]", "03-21[ 12:30]",
    "3月21日 12:30", and the relative forms "刚刚", "N秒/分钟/小时/天前", "今天/昨天/前天 HH:MM".
    Relative and zone-less forms are read in Asia/Shanghai against `now` (default: the current
    time). A month-day after today's date is last year's. Raises ParseError otherwise, also for
    times that exist in their zone but not in UTC (year 1 at +08:00, year 9999 at -08:00).
    """

    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        return _parse_time(value, now)
    except OverflowError:
        raise ParseError(f"time out of range: {str(value)[:60]!r}") from None


def _parse_time(value: object, now: datetime) -> datetime:
    if isinstance(value, bool):
        raise ParseError(f"time is a boolean: {value!r}")
    if isinstance(value, int | float):
        if value != value or value < 0:
            raise ParseError(f"bad unix time {value!r}")
        return _from_unix(float(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=SHANGHAI).astimezone(UTC)
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ParseError(f"time of unexpected type {type(value).__name__}")
    text = value.strip()
    local_now = now.astimezone(SHANGHAI)
    if not text:
        raise ParseError("empty time")
    if text == "刚刚":
        return now.astimezone(UTC)
    if _DIGITS.match(text):
        return _from_unix(float(text))
    if m := _RELATIVE.match(text):
        amount = int(m.group(1))
        unit = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}[m.group(2)]
        if amount > 100_000:
            raise ParseError(f"relative time out of range: {text!r}")
        return (now - timedelta(**{unit: amount})).astimezone(UTC)
    if m := _DAY_WORD.match(text):
        back = {"今天": 0, "昨天": 1, "前天": 2}[m.group(1)]
        day = (local_now - timedelta(days=back)).date()
        return _local(day.year, day.month, day.day, int(m.group(2)), int(m.group(3))).astimezone(UTC)
    if m := _MONTH_DAY.match(text):
        month, day = int(m.group(1)), int(m.group(2))
        hour, minute = int(m.group(3) or 0), int(m.group(4) or 0)
        return _latest_month_day(month, day, hour, minute, local_now, text).astimezone(UTC)
    if m := _CN_DATE.match(text):
        month, day = int(m.group(2)), int(m.group(3))
        hour, minute = int(m.group(4) or 0), int(m.group(5) or 0)
        if not m.group(1):
            return _latest_month_day(month, day, hour, minute, local_now, text).astimezone(UTC)
        return _local(int(m.group(1)), month, day, hour, minute).astimezone(UTC)
    if m := _FULL_DATE.match(text):
        parts = [int(p) if p else 0 for p in m.groups()]
        return _local(*parts).astimezone(UTC)
    if m := _WEIBO_TIME.match(text):
        month = _MONTHS.get(m.group(1))
        if month is None:
            raise ParseError(f"unknown month in {text!r}")
        offset = m.group(6)
        sign = 1 if offset[0] == "+" else -1
        off_hours, off_minutes = int(offset[1:3]), int(offset[3:5])
        if off_hours > 23 or off_minutes > 59:
            raise ParseError(f"impossible UTC offset in {text!r}")
        tz = timezone(sign * timedelta(hours=off_hours, minutes=off_minutes))
        try:
            when = datetime(
                int(m.group(7)),
                month,
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(4)),
                int(m.group(5)),
                tzinfo=tz,
            )
        except ValueError as exc:
            raise ParseError(f"impossible time {text!r}: {exc}") from None
        return when.astimezone(UTC)
    if "," in text or text[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None:
            if when.tzinfo is None:  # "-0000" in RFC 822 means UTC with unknown local zone
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC)
    try:
        iso = datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(f"unreadable time: {text[:60]!r}") from None
    if iso.tzinfo is None:
        iso = iso.replace(tzinfo=SHANGHAI)
    return iso.astimezone(UTC)


# ------------------------------------------------------------------------------------- JSON shapes


def expect_object(value: Any, what: str) -> dict[str, Any]:
    """`value` as a JSON object, or ParseError naming `what` (platforms change shapes silently)."""

    if not isinstance(value, dict):
        raise ParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def expect_list(value: Any, what: str) -> list[Any]:
    """`value` as a JSON list (None counts as empty), or ParseError naming `what`."""

    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def is_decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" and other digits that int() rejects."""

    return text.isascii() and text.isdigit()


def expect_id(value: Any, what: str) -> str:
    """A platform id (number or string, at most 64 characters) as text, or ParseError."""

    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise ParseError(f"{what}: missing or bad id {value!r}")
    text = str(value).strip()
    if len(text) > 64:
        raise ParseError(f"{what}: id too long")
    return text
