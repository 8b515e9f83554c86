"""Feishu / Lark custom-bot delivery: signed rich-text `post` messages, split to stay under the
20 KB request body limit.

Signature (not DingTalk's): string_to_sign = f"{timestamp_s}\\n{secret}" is the HMAC-SHA256 *key*,
the message is empty, the digest is base64-encoded; `timestamp` (seconds, as a string) and `sign`
go in the JSON body. A stale timestamp or wrong sign answers code 19021.

Credentials come from the environment: `KOLWATCH_FEISHU_HOOK[_<NAME>]` (the hook id or the whole
hook URL) and `KOLWATCH_FEISHU_SECRET[_<NAME>]`. Lark uses `base_url="https://open.larksuite.com"`.

Post `text` elements are plain text (no markup is interpreted), so user text is passed as is
after hygiene. Feishu answers HTTP 200 with `code` (older deployments: `StatusCode`); 11232 (rate
limited, common at the top of the hour) retries after 60 s. Limits enforced here per bot: 5 per
second and 100 per minute. Custom bots cannot upload files: attachments are named, not sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import httpx

from bot.notifiers.base import (
    LEVEL_LABELS,
    DeliveryResult,
    HttpOutcome,
    Notice,
    PartSender,
    RateLimiter,
    RateRule,
    Secret,
    classify_http,
    clean_text,
    deliver_parts,
    post_json,
    safe_link_url,
    signed_robots_from_env,
    split_lines,
    unsent_attachments_line,
)

FEISHU_BASE = "https://open.feishu.cn"
BODY_LIMIT = 18_000  # bytes; the documented limit is 20 KB, the rest is room for title and signature
LINE_LIMIT = 6_000
RATE_LIMITED = {11232: 60.0}
HINTS = {19021: "signature or timestamp rejected", 19024: "keyword check failed", 9499: "bad request body",
         19001: "invalid hook"}
_HOOK_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")

Row = list[dict[str, str]]


def sign(secret: str, timestamp_s: int) -> str:
    """The body `sign` for `timestamp_s`: base64(HMAC-SHA256(key="ts\\nsecret", msg=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def parse_hook(value: str) -> str:
    value = value.strip().rstrip("/")
    if "://" in value:
        if "/hook/" not in value:
            raise ValueError("Feishu hook URL has no /hook/<id>")
        value = value.rsplit("/hook/", 1)[1]
    if not _HOOK_RE.fullmatch(value):
        raise ValueError("Feishu hook id has unexpected characters")
    return value


@dataclass(frozen=True, slots=True)
class FeishuRobot:
    hook: Secret
    secret: Secret | None = None


def _row_size(row: Row) -> int:
    return len(json.dumps(row, ensure_ascii=False).encode("utf-8")) + 1


def render_rows(notice: Notice) -> list[Row]:
    rows: list[Row] = []
    for line in notice.body_lines:
        rows += [[{"tag": "text", "text": piece}] for piece in split_lines(clean_text(line), LINE_LIMIT)
                 if piece.strip()]
    for label, url in notice.links:
        target = safe_link_url(url)
        if target is None:
            rows.append([{"tag": "text", "text": f"{clean_text(label)} {clean_text(url)}"[:LINE_LIMIT]}])
        else:
            rows.append([{"tag": "a", "text": clean_text(label)[:200] or target[:200], "href": target}])
    note = unsent_attachments_line(notice, "飞书")
    if note:
        rows.append([{"tag": "text", "text": note}])
    return rows


def chunk_rows(rows: list[Row], budget: int = BODY_LIMIT) -> list[list[Row]]:
    chunks: list[list[Row]] = [[]]
    size = 0
    for row in rows:
        row_size = _row_size(row)
        if chunks[-1] and size + row_size > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_size
    return chunks


def render_title(notice: Notice) -> str:
    title = clean_text(notice.title)[:200]
    return f"[{LEVEL_LABELS[notice.level]}] {title}" if notice.level else title


class FeishuNotifier:
    """Sends notices to Feishu/Lark custom bots; `target` names a bot configured in the environment."""

    name: ClassVar[str] = "feishu"
    rate_limits: ClassVar[tuple[RateRule, ...]] = (RateRule(5, 1.0), RateRule(100, 60.0))

    def __init__(self, robots: Mapping[str, FeishuRobot], client: httpx.AsyncClient, *,
                 base_url: str = FEISHU_BASE, clock_s: Callable[[], int] | None = None,
                 limiter: RateLimiter | None = None, max_wait: float = 3.0) -> None:
        self._robots = dict(robots)
        self._client = client
        self._base = base_url.rstrip("/")
        self._clock_s = clock_s or (lambda: int(time.time()))
        self._limiter = limiter or RateLimiter()
        self._max_wait = max_wait

    @classmethod
    def from_env(cls, environ: Mapping[str, str], client: httpx.AsyncClient,
                 **kwargs: object) -> FeishuNotifier:
        found = signed_robots_from_env(
            environ, "KOLWATCH_FEISHU_HOOK", "KOLWATCH_FEISHU_SECRET", parse_hook, "Feishu bot"
        )
        robots = {name: FeishuRobot(key, secret) for name, (key, secret) in found.items()}
        return cls(robots, client, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"FeishuNotifier(targets={sorted(self._robots)!r})"

    async def aclose(self) -> None:
        """The injected client belongs to the caller."""

    def contents(self, notice: Notice) -> list[dict[str, object]]:
        """The unsigned `msg_type`/`content` bodies, in order."""
        title = render_title(notice)
        chunks = chunk_rows(render_rows(notice) or [[{"tag": "text", "text": title}]])
        bodies: list[dict[str, object]] = []
        for index, rows in enumerate(chunks):
            part_title = title if len(chunks) == 1 else f"{title} ({index + 1}/{len(chunks)})"
            bodies.append({"msg_type": "post",
                           "content": {"post": {"zh_cn": {"title": part_title, "content": rows}}}})
        return bodies

    def signed(self, robot: FeishuRobot, body: dict[str, object]) -> dict[str, object]:
        if robot.secret is None:
            return body
        ts = self._clock_s()
        return {"timestamp": str(ts), "sign": sign(robot.secret.reveal(), ts), **body}

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        robot = self._robots.get(target)
        if robot is None:
            return DeliveryResult.failed(0, 0, f"unknown Feishu bot {target[:40]!r}")
        senders: list[PartSender] = [self._post(robot, body) for body in self.contents(notice)]
        note = f"{len(notice.attachments)} attachment(s) not sent" if notice.attachments else ""
        return await deliver_parts(senders, resume_from=resume_from, limiter=self._limiter,
                                   key=f"feishu:{target}", rules=self.rate_limits,
                                   max_wait=self._max_wait, note=note)

    def _post(self, robot: FeishuRobot, body: dict[str, object]) -> PartSender:
        async def call() -> HttpOutcome:
            url = f"{self._base}/open-apis/bot/v2/hook/{robot.hook.reveal()}"
            response = await post_json(self._client, url, self.signed(robot, body))  # signed per attempt
            if isinstance(response, str):
                return HttpOutcome("retry", None, response)
            return classify_http(response, ("code", "StatusCode"), ("msg", "StatusMessage"),
                                 RATE_LIMITED, HINTS)

        return call
