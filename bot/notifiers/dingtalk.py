"""DingTalk (钉钉) custom-robot delivery: signed markdown messages split on line boundaries.

Signature (加签): string_to_sign = f"{timestamp_ms}\\n{secret}", HMAC-SHA256 keyed with the secret,
base64, then URL-encoded; `timestamp` (milliseconds) and `sign` go in the query next to
`access_token`. The server accepts timestamps within one hour of its clock.

Credentials come from the environment: `KOLWATCH_DINGTALK_TOKEN[_<NAME>]` (access_token or the whole
webhook URL) and `KOLWATCH_DINGTALK_SECRET[_<NAME>]` (the `SEC...` signing secret). A robot without
a secret is sent unsigned; if DingTalk wants a signature it answers 310000, reported as a failure.

DingTalk answers HTTP 200 with `errcode`. More than 20 messages a minute throttles a robot for ten
minutes (130101 "send too fast"), so the limit is enforced here and 130101 retries after 600 s.
Custom robots cannot upload files: attachments are named in the message, not sent. The markdown
size is not documented precisely; parts are kept under 4000 UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

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
    deliver_parts,
    md_escape,
    md_link,
    post_json,
    signed_robots_from_env,
    split_lines,
    unsent_attachments_line,
    utf8_len,
)

DINGTALK_BASE = "https://oapi.dingtalk.com"
MARKDOWN_LIMIT = 4000
TITLE_LIMIT = 64  # the notification preview; longer titles are cut
RATE_LIMITED = {130101: 600.0}
HINTS = {310000: "keyword, timestamp, signature or IP whitelist check failed",
         300001: "invalid access_token", 400102: "robot disabled"}
_CONTINUED = "（续）\n\n"


def sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded `sign` query value for `timestamp_ms`."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def parse_token(value: str) -> str:
    value = value.strip()
    if "://" in value:
        tokens = parse_qs(urlsplit(value).query).get("access_token", [])
        if len(tokens) != 1 or not tokens[0].strip():
            raise ValueError("DingTalk webhook URL has no access_token= parameter")
        return tokens[0].strip()
    return value


@dataclass(frozen=True, slots=True)
class DingTalkRobot:
    token: Secret
    secret: Secret | None = None


def render_markdown(notice: Notice) -> str:
    # DingTalk markdown needs a blank line between paragraphs, or lines run together.
    head = f"#### {md_escape(notice.title)}"
    if notice.level:
        head = f"#### [{LEVEL_LABELS[notice.level]}] {md_escape(notice.title)}"
    lines = [head, *(md_escape(line) for line in notice.body_lines if line.strip())]
    lines += [md_link(label, url) for label, url in notice.links]
    note = unsent_attachments_line(notice, "钉钉")
    if note:
        lines.append(note)
    return "\n\n".join(lines)


class DingTalkNotifier:
    """Sends notices to DingTalk custom robots; `target` names a robot configured in the environment."""

    name: ClassVar[str] = "dingtalk"
    rate_limits: ClassVar[tuple[RateRule, ...]] = (RateRule(20, 60.0),)

    def __init__(self, robots: Mapping[str, DingTalkRobot], client: httpx.AsyncClient, *,
                 base_url: str = DINGTALK_BASE, clock_ms: Callable[[], int] | None = None,
                 limiter: RateLimiter | None = None, max_wait: float = 3.0) -> None:
        self._robots = dict(robots)
        self._client = client
        self._base = base_url.rstrip("/")
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._limiter = limiter or RateLimiter()
        self._max_wait = max_wait

    @classmethod
    def from_env(cls, environ: Mapping[str, str], client: httpx.AsyncClient,
                 **kwargs: object) -> DingTalkNotifier:
        found = signed_robots_from_env(
            environ, "KOLWATCH_DINGTALK_TOKEN", "KOLWATCH_DINGTALK_SECRET", parse_token, "DingTalk robot"
        )
        robots = {name: DingTalkRobot(key, secret) for name, (key, secret) in found.items()}
        return cls(robots, client, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"DingTalkNotifier(targets={sorted(self._robots)!r})"

    async def aclose(self) -> None:
        """The injected client belongs to the caller."""

    def payloads(self, notice: Notice) -> list[dict[str, object]]:
        title = md_escape(notice.title)[:TITLE_LIMIT]
        chunks = split_lines(render_markdown(notice), MARKDOWN_LIMIT - utf8_len(_CONTINUED))
        chunks = [chunks[0], *(_CONTINUED + c for c in chunks[1:])]
        return [{"msgtype": "markdown", "markdown": {"title": title, "text": c}} for c in chunks]

    def url_for(self, robot: DingTalkRobot) -> str:
        """The send URL, signed with a fresh timestamp when the robot has a secret."""
        url = f"{self._base}/robot/send?access_token={quote(robot.token.reveal(), safe='')}"
        if robot.secret is not None:
            ts = self._clock_ms()
            url += f"&timestamp={ts}&sign={sign(robot.secret.reveal(), ts)}"
        return url

    async def send(self, notice: Notice, target: str, *, resume_from: int = 0) -> DeliveryResult:
        robot = self._robots.get(target)
        if robot is None:
            return DeliveryResult.failed(0, 0, f"unknown DingTalk robot {target[:40]!r}")
        senders: list[PartSender] = [self._post(robot, p) for p in self.payloads(notice)]
        note = f"{len(notice.attachments)} attachment(s) not sent" if notice.attachments else ""
        return await deliver_parts(senders, resume_from=resume_from, limiter=self._limiter,
                                   key=f"dingtalk:{target}", rules=self.rate_limits,
                                   max_wait=self._max_wait, note=note)

    def _post(self, robot: DingTalkRobot, payload: dict[str, object]) -> PartSender:
        async def call() -> HttpOutcome:
            response = await post_json(self._client, self.url_for(robot), payload)  # signed per attempt
            if isinstance(response, str):
                return HttpOutcome("retry", None, response)
            return classify_http(response, ("errcode",), ("errmsg",), RATE_LIMITED, HINTS)

        return call
