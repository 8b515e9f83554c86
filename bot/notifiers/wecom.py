"""WeCom (企业微信) group-robot delivery: markdown (<= 4096 UTF-8 bytes) or text (<= 2048 bytes)
split on line boundaries, PNG/JPEG images inline (base64 + md5, <= 2 MB), other files uploaded
first (upload_media, <= 20 MB) and sent as `file` messages.

The robot key in the URL is the only credential (no signature). Keys come from the environment:
`KOLWATCH_WECOM_KEY` (target "default") and `KOLWATCH_WECOM_KEY_<NAME>` (target "name"); the
value may be the bare key or the whole webhook URL. WeCom answers HTTP 200 with `errcode`; 45009
(API frequency limit) becomes a retry after 60 s. Robots take about 20 messages per minute,
enforced here per robot (an upload and the `file` message that follows it count as one slot).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from bot.notifiers.base import (
    LEVEL_LABELS,
    Attachment,
    DeliveryResult,
    HttpOutcome,
    Notice,
    PartSender,
    RateLimiter,
    RateRule,
    Secret,
    classify_http,
    deliver_parts,
    env_targets,
    md_escape,
    md_link,
    post_json,
    render_plain,
    split_lines,
    utf8_len,
)

WECOM_BASE = "https://qyapi.weixin.qq.com"
MARKDOWN_LIMIT = 4096  # bytes of UTF-8
TEXT_LIMIT = 2048
IMAGE_MAX_BYTES = 2 * 1024 * 1024
FILE_MAX_BYTES = 20 * 1024 * 1024
RATE_LIMITED = {45009: 60.0}
HINTS = {93000: "invalid webhook key", 93004: "robot disabled", 40008: "invalid message type"}
_LEVEL_COLOURS = {"info": "info", "warning": "warning", "critical": "warning"}
_CONTINUED = "（续）\n"


def parse_key(value: str) -> str:
    """The robot key from a bare key or a full webhook URL (`...?key=KEY`)."""
    value = value.strip()
    if "://" in value:
        keys = parse_qs(urlsplit(value).query).get("key", [])
        if len(keys) != 1 or not keys[0].strip():
            raise ValueError("WeCom webhook URL has no key= parameter")
        return keys[0].strip()
    return value


def render_markdown(notice: Notice) -> str:
    head = f"**{md_escape(notice.title)}**"
    if notice.level:
        colour = _LEVEL_COLOURS[notice.level]
        head = f'<font color="{colour}">[{LEVEL_LABELS[notice.level]}]</font> {head}'
    lines = [head, *(md_escape(line) for line in notice.body_lines)]
    lines += [md_link(label, url) for label, url in notice.links]
    return "\n".join(lines)


def split_content(text: str, limit: int) -> list[str]:
    chunks = split_lines(text, limit - utf8_len(_CONTINUED))
    return [chunks[0], *(_CONTINUED + c for c in chunks[1:])]


class WeComNotifier:
    """Sends notices to WeCom group robots; `target` names a robot configured in the environment."""

    name: ClassVar[str] = "wecom"
    rate_limits: ClassVar[tuple[RateRule, ...]] = (RateRule(20, 60.0),)

    def __init__(self, robots: Mapping[str, Secret], client: httpx.AsyncClient, *,
                 base_url: str = WECOM_BASE, msgtype: str = "markdown",
                 limiter: RateLimiter | None = None, max_wait: float = 3.0) -> None:
        if msgtype not in ("markdown", "text"):
            raise ValueError("WeCom msgtype must be 'markdown' or 'text'")
        self._robots = dict(robots)
        self._client = client
        self._base = base_url.rstrip("/")
        self._msgtype = msgtype
        self._limiter = limiter or RateLimiter()
        self._max_wait = max_wait

    @classmethod
    def from_env(cls, environ: Mapping[str, str], client: httpx.AsyncClient,
                 **kwargs: object) -> WeComNotifier:
        found = env_targets(environ, "KOLWATCH_WECOM_KEY")
        robots = {name: Secret(parse_key(value)) for name, value in found.items()}
        if not robots:
            raise ValueError("no WeCom robot: set KOLWATCH_WECOM_KEY or KOLWATCH_WECOM_KEY_<NAME>")
        return cls(robots, client, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"WeComNotifier(targets={sorted(self._robots)!r}, msgtype={self._msgtype!r})"

    async def aclose(self) -> None:
        """The injected client belongs to the caller."""

    def payloads(self, notice: Notice) -> list[dict[str, object]]:
        """The JSON bodies of the text parts, in order."""
        if self._msgtype == "markdown":
            return [{"msgtype": "markdown", "markdown": {"content": c}}
                    for c in split_content(render_markdown(notice), MARKDOWN_LIMIT)]
        return [{"msgtype": "text", "text": {"content": c}}
                for c in split_content(render_plain(notice), TEXT_LIMIT)]

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        key = self._robots.get(target)
        if key is None:
            return DeliveryResult.failed(0, 0, f"unknown WeCom robot {target[:40]!r}")
        for att in notice.attachments:
            if att.size > FILE_MAX_BYTES:
                return DeliveryResult.failed(0, 0, f"attachment {att.name[:40]!r} is over 20 MB")
        url = f"{self._base}/cgi-bin/webhook/send?key={quote(key.reveal(), safe='')}"
        senders: list[PartSender] = [self._post(url, p) for p in self.payloads(notice)]
        senders += [self._attachment(key, url, att) for att in notice.attachments]
        return await deliver_parts(senders, resume_from=resume_from, limiter=self._limiter,
                                   key=f"wecom:{target}", rules=self.rate_limits, max_wait=self._max_wait)

    def _post(self, url: str, payload: dict[str, object]) -> PartSender:
        async def call() -> HttpOutcome:
            response = await post_json(self._client, url, payload)
            if isinstance(response, str):
                return HttpOutcome("retry", None, response)
            return classify_http(response, ("errcode",), ("errmsg",), RATE_LIMITED, HINTS)

        return call

    def _attachment(self, key: Secret, url: str, att: Attachment) -> PartSender:
        if att.is_image and att.size <= IMAGE_MAX_BYTES:
            image = {"base64": base64.b64encode(att.data).decode("ascii"),
                     "md5": hashlib.md5(att.data).hexdigest()}
            return self._post(url, {"msgtype": "image", "image": image})

        async def upload_then_send() -> HttpOutcome:
            upload = f"{self._base}/cgi-bin/webhook/upload_media?key={quote(key.reveal(), safe='')}&type=file"
            name = md_escape(att.name).replace("/", "_").replace("\\", "_")[:100] or "file"
            try:
                response = await self._client.post(upload, files={"media": (name, att.data, att.mime)})
            except httpx.HTTPError as exc:
                return HttpOutcome("retry", None, f"upload failed: {type(exc).__name__}")
            outcome = classify_http(response, ("errcode",), ("errmsg",), RATE_LIMITED, HINTS)
            if outcome.status != "ok":
                return outcome
            media_id = response.json().get("media_id")
            if not isinstance(media_id, str) or not media_id:
                return HttpOutcome("failed", None, "upload answered without media_id")
            return await self._post(url, {"msgtype": "file", "file": {"media_id": media_id}})()

        return upload_then_send
