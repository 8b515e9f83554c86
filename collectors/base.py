"""Core collection types: Author, Post, HotEntry, Page, the Collector contract and its error tree.

Everything a collector produces is a frozen, database-free value defined here; `storage` maps
these to tables, `nlp` and `scoring` read them. This module imports nothing else of ours, so any
package may import it.

Error hierarchy (a collector raises nothing else; the pipeline records `health` on the source):

    CollectorError                 health
     +-- NetworkError              "network"        timeouts, refused connections, DNS, 5xx after retries
     +-- RateLimited               "rate_limited"   429 / platform throttling; has retry_after seconds
     +-- LoginRequired             "login_required" cookie expired, login wall, 401
     +-- Blocked                   "blocked"        418/432/-352/-412/v_voucher/captcha
     +-- ParseError                "parse_error"    the response does not have the shape we know
     +-- SourceGone                "gone"           404, deleted account, feed removed
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Author:
    """An account on a platform. `followers` is None when the platform did not tell us."""

    platform: str
    author_id: str
    name: str
    url: str = ""
    followers: int | None = None
    verified: bool = False
    # Platform-specific verification class, kept as text: Weibo's verified_type (0 = orange
    # personal V, 1-7 = blue institutional, 220 = 达人), Bilibili's official.type, Mastodon "bot".
    verified_type: str | None = None
    description: str = ""
    following: int | None = None
    posts_count: int | None = None


# Verification classes of institutions (companies, media, governments, the brand's own official
# account): Weibo's blue V is verified_type 1-7, Bilibili's official.type 1 is an organisation.
_ORGANISATION_TYPES = {"weibo": frozenset("1234567"), "bilibili": frozenset({"1"})}


def is_organisation(platform: str, verified_type: str | None) -> bool:
    """Whether the platform verified the account as an institution rather than a person."""

    return verified_type in _ORGANISATION_TYPES.get(platform, frozenset())


@dataclass(frozen=True, slots=True)
class Post:
    """One piece of content: a post, a repost, a comment, a video or a feed item.

    `(platform, post_id)` is the natural key. `created_at` is timezone-aware UTC. Counts are None
    when unknown, never a silent 0. For a repost, `is_repost` is set and `parent_id` names the
    original (the original is yielded as a Post of its own when the platform embeds it); for a
    comment, `kind == "comment"` and `parent_id` is the commented post. `raw` keeps the platform
    object for debugging; it is excluded from equality.
    """

    platform: str
    post_id: str
    url: str
    author: Author
    text: str
    created_at: datetime
    likes: int | None = None
    reposts: int | None = None
    comments: int | None = None
    views: int | None = None
    is_repost: bool = False
    parent_id: str | None = None
    kind: str = "post"  # post | comment | video | article | item
    title: str = ""
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class HotEntry:
    """One line of a platform hot list (微博热搜, B站热门 ...) at the moment it was read."""

    platform: str
    board: str  # "realtime", "hot", ...
    rank: int | None  # None for a pinned entry
    title: str
    heat: int | None
    url: str
    captured_at: datetime
    category: str = ""
    is_ad: bool = False
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """What a collector yields: one fetched page, and the cursor to resume from after it.

    The pipeline stores the items and the cursor in one transaction, so a crash repeats at most
    the page in flight and never skips one.
    """

    cursor: JsonDict
    posts: tuple[Post, ...] = ()
    authors: tuple[Author, ...] = ()  # profiles fetched on their own (user sources)
    hot_entries: tuple[HotEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What to collect: `kind` is one of the collector's `kinds`, `target` its argument."""

    platform: str
    kind: str
    target: str
    options: Mapping[str, Any] = field(default_factory=dict)


class CollectorError(Exception):
    """Base of everything a collector may raise. `health` is the source-health class."""

    health: ClassVar[str] = "error"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class NetworkError(CollectorError):
    health = "network"


class RateLimited(CollectorError):
    health = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after


class LoginRequired(CollectorError):
    health = "login_required"


class Blocked(CollectorError):
    health = "blocked"


class ParseError(CollectorError):
    health = "parse_error"


class SourceGone(CollectorError):
    health = "gone"


HEALTH_CLASSES: tuple[str, ...] = (
    "ok",
    NetworkError.health,
    RateLimited.health,
    LoginRequired.health,
    Blocked.health,
    ParseError.health,
    SourceGone.health,
)


class CollectorSettings(BaseModel):
    """Settings every collector understands; `[collectors.<name>]` in settings.toml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    base_url: str = ""
    timeout_s: float = Field(default=15.0, gt=0)
    # Politeness: at most this many requests per second to one host (token bucket).
    rate_per_s: float = Field(default=0.5, gt=0)
    burst: int = Field(default=2, ge=1)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_pages_per_run: int = Field(default=5, ge=1)
    user_agent: str = ""
    # Circuit breaker: after this many consecutive failures a source rests for breaker_cooldown_s.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=1800.0, ge=0)

    # Subclasses re-declare defaults (a platform's own politeness) and so lose the Field bounds
    # above; these validators are inherited by name and keep the bounds for every collector.
    @field_validator("timeout_s", "rate_per_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("burst", "max_pages_per_run", "breaker_threshold")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value


class Collector(ABC):
    """One platform. Subclasses set `name`, `kinds`, `Settings` and implement `collect`.

    `collect` yields Pages, newest-first or oldest-first as the platform gives them, each with the
    cursor to resume from. Given the cursor of a previous run it fetches only what is new, bounded
    by `settings.max_pages_per_run`. It raises only `CollectorError` subclasses.
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    Settings: ClassVar[type[CollectorSettings]] = CollectorSettings

    def __init__(self, client: httpx.AsyncClient, settings: CollectorSettings) -> None:
        self.client = client
        self.settings = settings

    @abstractmethod
    def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        """Yield pages of new items for `source`, resuming from `cursor` ({} on the first run)."""


def registry(*collector_classes: type[Collector]) -> dict[str, type[Collector]]:
    """Explicit name -> class map; a duplicate or unnamed collector is a programming error."""

    table: dict[str, type[Collector]] = {}
    for cls in collector_classes:
        name = getattr(cls, "name", "")
        if not name:
            raise TypeError(f"{cls.__qualname__} has no name")
        if name in table:
            raise ValueError(
                f"two collectors are named {name!r}: {table[name].__qualname__}, {cls.__qualname__}"
            )
        table[name] = cls
    return table


def unique_posts(posts: Iterable[Post]) -> tuple[Post, ...]:
    """Posts with duplicates (same natural key) removed, last seen wins (freshest counts)."""

    by_key: dict[tuple[str, str], Post] = {}
    for post in posts:
        by_key[(post.platform, post.post_id)] = post
    return tuple(by_key.values())
