"""Hot-list collector (platform `hotlist`, kind `hot`): 微博热搜 and B站热门 as HotEntry pages.

Target "weibo" reads weibo.com/ajax/side/hotSearch (or, with option `format = "html"`, the
s.weibo.com/top/summary page); target "bilibili" reads x/web-interface/popular. The Weibo parsers
are shared with `collectors.weibo`. Every run is a snapshot: the cursor only records when it was
taken, and the pipeline stores entries per capture time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from collectors import bilibili, weibo
from collectors.base import Collector, CollectorError, HotEntry, Page, ParseError, SourceSpec
from collectors.http import DESKTOP_UA, HttpSettings, fetch_json, fetch_text, parse_count


class HotlistSettings(HttpSettings):
    # Absolute URLs by default; relative ones follow base_url (a mirror or the local fake platform).
    weibo_url: str = "https://weibo.com/ajax/side/hotSearch"
    weibo_html_url: str = "https://s.weibo.com/top/summary?cate=realtimehot"
    bilibili_url: str = "https://api.bilibili.com/x/web-interface/popular?ps=50&pn=1"
    user_agent: str = DESKTOP_UA
    cookie_env: str = "KOLWATCH_WEIBO_COOKIE"
    rate_per_s: float = 0.2


def parse_bilibili_popular(payload: Any, *, now: datetime) -> list[HotEntry]:
    """x/web-interface/popular -> entries ranked in list order, heat = views."""

    bilibili.check_envelope(payload)
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("list"), list):
        raise ParseError("bilibili popular has no data.list")
    entries = []
    for rank, item in enumerate(data["list"], start=1):
        if not isinstance(item, dict):
            raise ParseError("bilibili popular item is not an object")
        bvid = item.get("bvid")
        title = item.get("title")
        if not isinstance(bvid, str) or not isinstance(title, str):
            raise ParseError("bilibili popular item without bvid/title")
        stat = item.get("stat") if isinstance(item.get("stat"), dict) else {}
        reason = item.get("rcmd_reason")
        category = reason.get("content", "") if isinstance(reason, dict) else str(item.get("tname") or "")
        entries.append(
            HotEntry(
                platform="bilibili",
                board="popular",
                rank=rank,
                title=title.strip(),
                heat=parse_count(stat.get("view")),
                url=f"https://www.bilibili.com/video/{quote(bvid)}",
                captured_at=now.astimezone(UTC),
                category=str(category),
            )
        )
    return entries


class HotlistCollector(Collector):
    name: ClassVar[str] = "hotlist"
    kinds: ClassVar[frozenset[str]] = frozenset({"hot"})
    targets: ClassVar[frozenset[str]] = frozenset({"weibo", "bilibili"})
    Settings: ClassVar[type[HotlistSettings]] = HotlistSettings

    def __init__(
        self, client: Any, settings: HotlistSettings, *, now: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(client, settings)
        self.settings: HotlistSettings = settings
        self._now = now or (lambda: datetime.now(UTC))

    def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind != "hot":
            raise CollectorError(f"hotlist has only kind 'hot', not {source.kind!r}")
        target = source.target.strip().lower()
        if target not in self.targets:
            raise CollectorError(
                f"hotlist target must be one of {sorted(self.targets)}, got {source.target!r}"
            )
        return self._run(source, target)

    async def _run(self, source: SourceSpec, target: str) -> AsyncIterator[Page]:
        key = f"hotlist:{target}"
        now = self._now()
        if target == "weibo" and source.options.get("format") == "html":
            entries = weibo.parse_hot_html(
                await fetch_text(self.client, self.settings.weibo_html_url, source_key=key), now=now
            )
        elif target == "weibo":
            payload = await fetch_json(
                self.client, self.settings.weibo_url, source_key=key, check=weibo.check_envelope
            )
            entries = weibo.parse_hot_json(payload, now=now)
        else:
            payload = await fetch_json(
                self.client, self.settings.bilibili_url, source_key=key, check=bilibili.check_envelope
            )
            entries = parse_bilibili_popular(payload, now=now)
        yield Page(cursor={"captured_at": now.astimezone(UTC).isoformat()}, hot_entries=tuple(entries))
