"""The notifier contract: Notice, Attachment, DeliveryResult, the Notifier protocol, and the
machinery every channel shares (secrets that never print, per-target rate limits, plain-text
rendering, splitting text on line boundaries under a byte or character budget, HTTP outcome
mapping for the webhook robots).

Delivery model (what the outbox sender relies on):

- A notifier renders one `Notice` into an ordered, deterministic list of *parts* (messages, photos,
  documents) for a `target` and sends them in order. `send(notice, target, resume_from=k)` skips
  the first k parts, so a retry after a partial delivery never repeats what already arrived.
- `DeliveryResult.parts_sent` is the cumulative count of delivered parts (including skipped ones).
  Status `ok`: all parts arrived. `retry`: try again after `retry_after` seconds (None = use your
  own backoff), resuming from `parts_sent`. `failed`: permanent, do not retry.
- Rate limits are enforced *by the notifier* per target (class attribute `rate_limits`), with an
  in-process sliding window. A wait up to `max_wait` seconds is slept inside `send`; a longer one
  ends the send with a `retry` result carrying the wait, so the outbox reschedules instead of
  blocking. The limiter sees only its own process: run one sender per channel (the outbox sender
  is a singleton, see DESIGN data flow 6), or the platform's 429s will be the only brake.
- Secrets (bot token, webhook keys, signing secrets) live in `Secret` objects whose repr/str is
  masked; their values are also registered with a logging filter on the HTTP client loggers so a
  request URL containing a key is redacted before any handler sees it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

import httpx

from bot.render import clean_text

log = logging.getLogger("kolwatch.notify")

LEVELS: tuple[str, ...] = ("info", "warning", "critical")
LEVEL_LABELS: Mapping[str, str] = {"info": "通知", "warning": "预警", "critical": "严重"}
ALLOWED_LINK_SCHEMES: tuple[str, ...] = ("http://", "https://")

def safe_link_url(url: str) -> str | None:
    """The URL if it is an absolute http(s) URL without whitespace or controls, else None."""
    url = url.strip()
    if not url.lower().startswith(ALLOWED_LINK_SCHEMES) or len(url) > 2048:
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return None
    return url


# --------------------------------------------------------------------------------------------
# Secrets


class _SecretRedactor(logging.Filter):
    """Replaces every registered secret value in a log record's message and arguments."""

    def __init__(self) -> None:
        super().__init__("kolwatch-secrets")
        self.values: set[str] = set()

    def redact(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not a leak
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _SecretRedactor()
# httpx logs "HTTP Request: POST <full url>" at INFO, and WeCom/DingTalk keys travel in the URL.
_REDACTED_LOGGERS = ("httpx", "httpcore", "kolwatch.notify", "aiogram", "aiohttp.client")
for _name in _REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_REDACTOR)


def redact(text: str) -> str:
    """`text` with every known secret value replaced by ***."""
    return _REDACTOR.redact(text)


class Secret:
    """A credential. `str()`/`repr()` never show it; `reveal()` does, for the wire only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ValueError("a secret must not be empty")
        self._value = value
        if len(value) >= 6:  # shorter values would redact ordinary words in log lines
            _REDACTOR.values.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def env_targets(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Target name -> value for `PREFIX` (target "default") and `PREFIX_<NAME>` (target "name")."""
    found: dict[str, str] = {}
    for key, value in environ.items():
        if not value.strip():
            continue
        if key == prefix:
            found["default"] = value
        elif key.startswith(prefix + "_") and len(key) > len(prefix) + 1:
            found[key[len(prefix) + 1 :].lower()] = value
    return found


def signed_robots_from_env(
    environ: Mapping[str, str], key_prefix: str, secret_prefix: str, parse: Callable[[str], str], what: str
) -> dict[str, tuple[Secret, Secret | None]]:
    """Robot name -> (key, optional signing secret) from `KEY_PREFIX[_<NAME>]` and
    `SECRET_PREFIX[_<NAME>]`; ValueError when none is configured or a secret has no key."""

    keys = env_targets(environ, key_prefix)
    secrets = env_targets(environ, secret_prefix)
    if not keys:
        raise ValueError(f"no {what}: set {key_prefix} or {key_prefix}_<NAME>")
    stray = sorted(set(secrets) - set(keys))
    if stray:
        raise ValueError(f"{secret_prefix} set for robots without {key_prefix}: {stray}")
    return {
        name: (Secret(parse(value)), Secret(secrets[name]) if name in secrets else None)
        for name, value in keys.items()
    }


# --------------------------------------------------------------------------------------------
# The domain


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to deliver with a notice. `data` is excluded from repr (it can be megabytes)."""

    name: str
    mime: str
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes | bytearray):
            raise TypeError("Attachment.data must be bytes")
        if not self.data:
            raise ValueError(f"attachment {self.name!r} is empty")
        if "/" not in self.mime:
            raise ValueError(f"attachment mime type {self.mime!r} is not type/subtype")

    @property
    def is_image(self) -> bool:
        return self.mime in ("image/png", "image/jpeg")

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Notice:
    """A channel-neutral message. All text is plain (never markup): each channel escapes it.

    `level` is one of LEVELS or None; `links` are (label, url) pairs; `dedup_key` identifies the
    notice for the outbox (the same key is delivered once per target). `feedback` lists the
    (label, post pk) of the posts the notice shows: channels with buttons (Telegram) offer the
    sentiment-feedback and ignore-author buttons for each; the others ignore it.
    """

    title: str
    body_lines: tuple[str, ...] = ()
    level: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    dedup_key: str = ""
    feedback: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.body_lines, str):
            raise TypeError("Notice.body_lines must be a sequence of lines, not one string")
        object.__setattr__(self, "body_lines", tuple(str(line) for line in self.body_lines))
        object.__setattr__(self, "links", tuple((str(a), str(b)) for a, b in self.links))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        object.__setattr__(self, "feedback", tuple((str(a), int(b)) for a, b in self.feedback))
        if any(pk < 1 for _, pk in self.feedback):
            raise ValueError("Notice.feedback post ids must be positive")
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"Notice.level must be one of {LEVELS} or None, not {self.level!r}")
        if not self.title.strip():
            raise ValueError("Notice.title must not be empty")
        for att in self.attachments:
            if not isinstance(att, Attachment):
                raise TypeError("Notice.attachments must hold Attachment objects")


Status = Literal["ok", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one `send`. See the module docstring for how the outbox uses it."""

    status: Status
    parts_sent: int = 0
    parts_total: int = 0
    retry_after: float | None = None
    message: str = ""

    @classmethod
    def delivered(cls, parts: int, message: str = "") -> DeliveryResult:
        return cls("ok", parts_sent=parts, parts_total=parts, message=message)

    @classmethod
    def retry(cls, sent: int, total: int, after: float | None, message: str) -> DeliveryResult:
        return cls("retry", sent, total, None if after is None else max(0.0, float(after)), redact(message))

    @classmethod
    def failed(cls, sent: int, total: int, message: str) -> DeliveryResult:
        return cls("failed", sent, total, None, redact(message))

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@runtime_checkable
class Notifier(Protocol):
    """One delivery channel. `target` names a chat id (Telegram), a robot (webhooks) or a file."""

    name: ClassVar[str]
    rate_limits: ClassVar[tuple[RateRule, ...]]

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult: ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Rate limiting


@dataclass(frozen=True, slots=True)
class RateRule:
    """At most `count` sends per `period` seconds for one key."""

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or not (self.period > 0):
            raise ValueError("a rate rule needs count >= 1 and period > 0")


class RateLimiter:
    """Sliding-window limiter over several rules per key. Clock and sleep are injectable for tests."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[tuple[str, int, float], deque[float]] = {}
        self._lock = asyncio.Lock()

    def wait_time(self, key: str, rules: Iterable[RateRule]) -> float:
        """Seconds until one more send under `key` satisfies every rule (0 = now)."""
        now = self._clock()
        wait = 0.0
        for rule in rules:
            log_ = self._sent.get((key, rule.count, rule.period))
            if not log_:
                continue
            while log_ and log_[0] <= now - rule.period:
                log_.popleft()
            if len(log_) >= rule.count:
                wait = max(wait, log_[-rule.count] + rule.period - now)
        return wait

    async def acquire(self, key: str, rules: tuple[RateRule, ...], max_wait: float) -> float | None:
        """Take a slot, sleeping up to `max_wait`. Returns None on success, or the wait still needed."""
        async with self._lock:
            wait = self.wait_time(key, rules)
            if wait > max_wait:
                return wait
            if wait > 0:
                await self._sleep(wait)
            now = self._clock()
            for rule in rules:
                self._sent.setdefault((key, rule.count, rule.period), deque()).append(now)
            return None


# --------------------------------------------------------------------------------------------
# Rendering and splitting shared by the text channels


def render_plain(notice: Notice) -> str:
    """The notice as plain text (console, file, logs)."""
    head = clean_text(notice.title)
    if notice.level:
        head = f"[{LEVEL_LABELS[notice.level]}] {head}"
    lines = [head, *(clean_text(line) for line in notice.body_lines)]
    lines += [f"{clean_text(label)}: {clean_text(url)}" for label, url in notice.links]
    lines += [f"[附件] {clean_text(a.name)} ({a.mime}, {a.size} bytes)" for a in notice.attachments]
    return "\n".join(lines)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_lines(text: str, limit: int, measure: Callable[[str], int] = utf8_len) -> list[str]:
    """Split `text` into chunks with measure(chunk) <= limit, breaking at newlines when possible.

    A single line longer than the limit is cut at the last space that fits, else at a code-point
    boundary (never inside a UTF-8 sequence). Newlines at a break are dropped.
    """
    if limit < 4:
        raise ValueError("limit too small")
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = line if not current else current + "\n" + line
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
            current = ""
        while measure(line) > limit:
            cut = _longest_prefix(line, limit, measure)
            space = line.rfind(" ", 0, cut)
            if space > cut // 2:
                cut = space + 1
            chunks.append(line[:cut].rstrip(" "))
            line = line[cut:]
        current = line
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [""]


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    lo, hi = 1, len(text)
    while lo < hi:  # binary search: measure() is monotone in prefix length
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------------------------------
# Webhook outcomes (WeCom, DingTalk, Feishu all answer HTTP 200 with an error code in the body)


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """What one webhook POST meant: delivered, retry after n seconds (None = backoff), or failed."""

    status: Status
    retry_after: float | None = None
    message: str = ""


def retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def classify_http(
    response: httpx.Response,
    code_keys: tuple[str, ...],
    message_keys: tuple[str, ...],
    rate_limited: Mapping[int, float],
    permanent_hint: Mapping[int, str] | None = None,
) -> HttpOutcome:
    """Map a webhook response to an outcome, reading the business code from the JSON body."""
    if response.status_code == 429:
        return HttpOutcome("retry", retry_after_header(response) or 60.0, "HTTP 429 rate limited")
    if response.status_code >= 500:
        return HttpOutcome("retry", retry_after_header(response), f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return HttpOutcome("failed", None, f"HTTP {response.status_code}: response is not JSON")
    if not isinstance(body, dict):
        kind = type(body).__name__
        return HttpOutcome("failed", None, f"HTTP {response.status_code}: unexpected JSON {kind}")
    code = next((body[k] for k in code_keys if k in body), None)
    message = next((str(body[k]) for k in message_keys if k in body), "")
    if not isinstance(code, int) or isinstance(code, bool):
        return HttpOutcome("failed", None, f"HTTP {response.status_code}: no error code in response")
    if response.status_code >= 400 and code == 0:
        return HttpOutcome("failed", None, f"HTTP {response.status_code}")
    if code == 0:
        return HttpOutcome("ok")
    text = f"error {code}: {message[:200]}"
    if permanent_hint and code in permanent_hint:
        text += f" ({permanent_hint[code]})"
    if code in rate_limited:
        return HttpOutcome("retry", rate_limited[code], text)
    return HttpOutcome("failed", None, text)


async def post_json(client: httpx.AsyncClient, url: str, payload: object) -> httpx.Response | str:
    """POST JSON; a transport error becomes its (redacted) description instead of an exception."""
    try:
        return await client.post(url, json=payload)
    except httpx.TimeoutException as exc:
        return f"timeout: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        return f"network error: {type(exc).__name__}: {redact(str(exc))[:200]}"


PartSender = Callable[[], Awaitable[HttpOutcome]]


async def deliver_parts(
    parts: list[PartSender],
    *,
    resume_from: int,
    limiter: RateLimiter,
    key: str,
    rules: tuple[RateRule, ...],
    max_wait: float,
    note: str = "",
) -> DeliveryResult:
    """Send `parts` in order from `resume_from`, one rate-limit slot each; stop at the first non-ok."""
    total = len(parts)
    if not 0 <= resume_from <= total:
        return DeliveryResult.failed(0, total, f"resume_from={resume_from} outside 0..{total}")
    for index in range(resume_from, total):
        wait = await limiter.acquire(key, rules, max_wait)
        if wait is not None:
            return DeliveryResult.retry(index, total, wait, f"rate limit: {index} of {total} parts sent")
        outcome = await parts[index]()
        if outcome.status == "retry":
            where = f"part {index + 1}/{total}: {outcome.message}"
            return DeliveryResult.retry(index, total, outcome.retry_after, where)
        if outcome.status == "failed":
            return DeliveryResult.failed(index, total, f"part {index + 1}/{total}: {outcome.message}")
    return DeliveryResult.delivered(total, note)


# --------------------------------------------------------------------------------------------
# Robot markdown (WeCom, DingTalk)

# Neither WeCom nor DingTalk documents an escape for its markdown, and both honour `<font>`,
# `<@userid>` mentions, `[label](url)` and leading `#`/`>`. User text could otherwise inject
# mentions or links, so the markup characters in it become their full-width look-alikes.
_MD_NEUTRAL = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "`": "ˋ", "*": "＊", "#": "＃"})


def md_escape(text: str) -> str:
    """Plain text -> robot markdown that renders as the same text and can inject nothing."""
    return clean_text(text).translate(_MD_NEUTRAL)


def md_link(label: str, url: str) -> str:
    """`[label](url)` for a safe http(s) URL, else the neutralised label and URL as text."""
    target = safe_link_url(url)
    if target is None:
        return f"{md_escape(label)} {md_escape(url)}".strip()
    return f"[{md_escape(label)}]({target.replace('(', '%28').replace(')', '%29')})"


def unsent_attachments_line(notice: Notice, channel: str) -> str | None:
    """A visible note for attachments a robot cannot carry (never dropped silently)."""
    if not notice.attachments:
        return None
    names = "、".join(clean_text(a.name)[:40] for a in notice.attachments)
    return f"（{len(notice.attachments)} 个附件未随{channel}消息发送：{names}）"
