"""Mastodon collector (`mastodon`): hashtag and public timelines, and accounts, over the REST API.

Kinds and targets (instance = `[collectors.mastodon] base_url`, or the source option `instance`):
- `hashtag`: target "瑞幸" or "#瑞幸" -> GET /api/v1/timelines/tag/:tag
- `public`: target ignored (write the instance name) -> GET /api/v1/timelines/public; options
  `local` / `remote` / `only_media` (booleans) are passed through
- `account`: target "user" or "user@domain" -> GET /api/v1/accounts/lookup?acct= (the profile,
  with followers, is yielded as an Author every run) then /api/v1/accounts/:id/statuses;
  options `exclude_replies` / `exclude_reblogs`.

Paging: the `Link` header. The first run reads the newest page and follows rel="next" (max_id,
older) for backfill. Later runs read the newest page first: statuses seen before are yielded
again so storage refreshes their counts, and when the page reaches back to the cursor it holds
everything new (one request). When more arrived than a page holds, they ask
`min_id=<newest id seen>`, which returns the statuses right after it with no gap, and follow
rel="prev" (newer) until a page is empty, at most `max_pages_per_run` pages in all (with a budget
of one page, only the min_id walk runs). The cursor is {"min_id": newest local status id}, and
it moves only over statuses read without a gap.

Identity: status ids are local to the instance that serves them, so `post_id` is the status
`uri` (its global ActivityPub id: one toot seen through two instances is one post) and author
ids are "user@domain". A reblog yields two posts: the reblog itself (is_repost, empty text,
parent_id = the original's uri) and the original with its own author and counts. Replies are
ordinary posts (their parent is only known by a local id), with `in_reply_to_id` kept in raw.

Rate limits: `X-RateLimit-Remaining: 0` after a page stops the run with RateLimited whose
retry_after comes from `X-RateLimit-Reset` (ISO time); a 429 gets the same retry_after.
401 -> LoginRequired, 404 -> SourceGone (http.py's mapping). The optional access token comes
from the environment variable KOLWATCH_MASTODON_TOKEN and is sent as a Bearer header only.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from collectors.base import (
    Author,
    Collector,
    CollectorError,
    CollectorSettings,
    Page,
    ParseError,
    Post,
    RateLimited,
    SourceSpec,
)
from collectors.http import MAX_COUNT, fetch_json
from collectors.webpage import html_to_text

PLATFORM = "mastodon"
TOKEN_ENV = "KOLWATCH_MASTODON_TOKEN"
PAGE_LIMIT = 40  # the API's maximum for timelines and account statuses

_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[\w-]+\s*=\s*(?:\"[^\"]*\"|[^;,\s]+)\s*)*)")
_LINK_PARAM = re.compile(r";\s*([\w-]+)\s*=\s*(?:\"([^\"]*)\"|([^;,\s]+))")
_ACCT = re.compile(r"^@?([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9.-]{1,253}(?::\d{1,5})?))?$")
_TAG = re.compile(r"^#?([^\s#/?]{1,100})$")
_REQUEST_ID = "X-Request-Id"
_CURSOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# ---------------------------------------------------------------------------------------- parsing


def parse_link_header(value: str | None) -> dict[str, str]:
    """rel -> URL from an RFC 8288 `Link` header; unknown or malformed parts are skipped."""

    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK_PART.finditer(value):
        url, params = match.group(1), match.group(2)
        for name, quoted, bare in _LINK_PARAM.findall(params):
            if name.lower() == "rel":
                for rel in (quoted or bare).split():
                    links.setdefault(rel.lower(), url)
    return links


def link_param(url: str | None, name: str) -> str | None:
    """The query parameter `name` of a Link URL (e.g. max_id), or None."""

    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def parse_iso_time(value: Any, *, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise ParseError(f"{field} is not a time string: {value!r}"[:120])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Year 1 at +08:00 or year 9999 at -08:00 exist locally but not in UTC: OverflowError.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ParseError(f"{field} is not a usable ISO 8601 time: {value[:40]!r}") from None


def rate_limit_reset_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds until `X-RateLimit-Reset` (an ISO time), or None when absent or unreadable."""

    value = headers.get("x-ratelimit-reset")
    if not value:
        return None
    try:
        reset = parse_iso_time(value, field="X-RateLimit-Reset")
    except ParseError:
        return None
    return max(0.0, (reset - (now or datetime.now(UTC))).total_seconds())


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_COUNT:
        raise ParseError(f"{field} is not a count: {value!r}"[:120])
    return value


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"{field} is not a string: {type(value).__name__}")
    return value


def _require_dict(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParseError(f"{what} is not an object: {type(value).__name__}")
    return value


def account_handle(account: Mapping[str, Any]) -> str:
    """Global handle "user@domain" of an account (acct is relative to the serving instance)."""

    acct = _text(account.get("acct"), "account.acct") or _text(account.get("username"), "account.username")
    if not acct:
        raise ParseError("account has neither acct nor username")
    if "@" in acct:
        return acct.lstrip("@")
    home = urlsplit(_text(account.get("url"), "account.url") or _text(account.get("uri"), "account.uri"))
    if not home.netloc:
        raise ParseError(f"local account {acct!r} has no url to tell its domain")
    return f"{acct}@{home.netloc}"


def parse_account(account: Any) -> Author:
    """Author from a Mastodon Account entity."""

    data = _require_dict(account, "account")
    fields = data.get("fields") or []
    verified_link = isinstance(fields, list) and any(
        isinstance(f, Mapping) and f.get("verified_at") for f in fields
    )
    handle = account_handle(data)
    return Author(
        platform=PLATFORM,
        author_id=handle,
        name=_text(data.get("display_name"), "account.display_name") or handle.split("@")[0],
        url=_text(data.get("url"), "account.url"),
        followers=_count(data.get("followers_count"), "account.followers_count"),
        # Mastodon has no blue tick; a profile link proven with rel="me" is the closest thing.
        verified=verified_link,
        verified_type="bot" if data.get("bot") is True else None,
        description=html_to_text(_text(data.get("note"), "account.note")),
        following=_count(data.get("following_count"), "account.following_count"),
        posts_count=_count(data.get("statuses_count"), "account.statuses_count"),
    )


def _status_key(status: Mapping[str, Any]) -> str:
    uri = _text(status.get("uri"), "status.uri") or _text(status.get("url"), "status.url")
    if not uri:
        raise ParseError("status has neither uri nor url")
    return uri


def _status_post(
    status: Mapping[str, Any], *, author: Author, is_repost: bool, parent_id: str | None
) -> Post:
    local_id = status.get("id")
    if not isinstance(local_id, str) or not local_id:
        raise ParseError(f"status id is not a string: {local_id!r}"[:120])
    content = html_to_text(_text(status.get("content"), "status.content"))
    warning = _text(status.get("spoiler_text"), "status.spoiler_text").strip()
    # A content warning is part of what readers see first, and often carries the brand name.
    text = f"{warning}\n{content}" if warning and content else (warning or content)
    return Post(
        platform=PLATFORM,
        post_id=_status_key(status),
        url=_text(status.get("url"), "status.url") or _text(status.get("uri"), "status.uri"),
        author=author,
        text=text,
        created_at=parse_iso_time(status.get("created_at"), field="status.created_at"),
        likes=_count(status.get("favourites_count"), "status.favourites_count"),
        reposts=_count(status.get("reblogs_count"), "status.reblogs_count"),
        comments=_count(status.get("replies_count"), "status.replies_count"),
        is_repost=is_repost,
        parent_id=parent_id,
        kind="post",
        raw=status,
    )


def parse_status(status: Any) -> tuple[Post, ...]:
    """Posts of one Status: itself, and for a reblog also the original (original first)."""

    data = _require_dict(status, "status")
    author = parse_account(data.get("account"))
    reblog = data.get("reblog")
    if reblog is None:
        return (_status_post(data, author=author, is_repost=False, parent_id=None),)
    original_data = _require_dict(reblog, "status.reblog")
    original = _status_post(
        original_data, author=parse_account(original_data.get("account")), is_repost=False, parent_id=None
    )
    wrapper = _status_post(
        {**data, "content": "", "spoiler_text": ""}, author=author, is_repost=True, parent_id=original.post_id
    )
    return (original, wrapper)


def parse_statuses(payload: Any) -> tuple[Post, ...]:
    """Posts of a timeline page (a JSON array of Status); duplicates keep the last copy."""

    if not isinstance(payload, list):
        raise ParseError(f"timeline page is not a list: {type(payload).__name__}")
    posts: dict[str, Post] = {}
    for status in payload:
        for post in parse_status(status):
            posts[post.post_id] = post
    return tuple(posts.values())


def parse_search(payload: Any) -> tuple[tuple[Post, ...], tuple[Author, ...]]:
    """Statuses and accounts of a /api/v2/search result."""

    data = _require_dict(payload, "search result")
    accounts = data.get("accounts") or []
    statuses = data.get("statuses") or []
    if not isinstance(accounts, list) or not isinstance(statuses, list):
        raise ParseError("search result accounts/statuses are not lists")
    return parse_statuses(statuses), tuple(parse_account(a) for a in accounts)


def local_ids(payload: Sequence[Any]) -> list[str]:
    """Local status ids of a page (the values min_id/max_id take)."""

    ids = []
    for status in payload:
        if isinstance(status, Mapping) and isinstance(status.get("id"), str):
            ids.append(status["id"])
    return ids


def newest_id(ids: Sequence[str]) -> str | None:
    """The newest of some status ids: snowflakes are decimal strings, compared as numbers."""

    best: str | None = None
    for value in ids:
        if best is None or _id_key(value) > _id_key(best):
            best = value
    return best


def _id_key(value: str) -> tuple[int, str]:
    # Older servers and other implementations use non-numeric ids; length then text keeps order.
    return (len(value), value) if not value.isdigit() else (len(value.lstrip("0")), value.lstrip("0"))


def _expect_list(payload: Any) -> None:
    if not isinstance(payload, list):
        if isinstance(payload, Mapping) and isinstance(payload.get("error"), str):
            raise ParseError(f"Mastodon error: {payload['error'][:200]}")
        raise ParseError(f"expected a list of statuses, got {type(payload).__name__}")


def _expect_account(payload: Any) -> None:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
        raise ParseError("expected an account object with an id")


# -------------------------------------------------------------------------------------- collector


class MastodonSettings(CollectorSettings):
    """`[collectors.mastodon]`; base_url is the instance, e.g. https://mastodon.social."""


@dataclass(frozen=True, slots=True)
class _Endpoint:
    path: str
    params: Mapping[str, str]


class _HeaderTap:
    """Keeps the headers of responses by request id: http.py returns only the decoded payload,
    and Mastodon puts paging (Link) and rate limits (X-RateLimit-*) in headers."""

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.by_request: dict[str, httpx.Headers] = {}

    def expect(self, tag: str) -> None:
        self.pending.add(tag)

    async def __call__(self, response: httpx.Response) -> None:
        # Only our own requests: the client may be shared with other collectors and their taps.
        tag = response.request.headers.get(_REQUEST_ID)
        if tag in self.pending:
            self.by_request[tag] = response.headers

    def pop(self, tag: str) -> httpx.Headers:
        self.pending.discard(tag)
        return self.by_request.pop(tag, httpx.Headers())


class MastodonCollector(Collector):
    name = "mastodon"
    kinds = frozenset({"hashtag", "public", "account"})
    Settings = MastodonSettings

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: CollectorSettings,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(client, settings)
        env = os.environ if environ is None else environ
        token = (env.get(TOKEN_ENV) or "").strip()
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        # One tap per client: the pipeline builds a collector per run on a long-lived client, so
        # adding a hook each time would grow the client's hook list forever.
        hooks = client.event_hooks
        existing = [hook for hook in hooks.get("response", []) if isinstance(hook, _HeaderTap)]
        if existing:
            self._tap = existing[0]
        else:
            self._tap = _HeaderTap()
            hooks["response"] = [*hooks.get("response", []), self._tap]
            client.event_hooks = hooks

    async def _get(
        self, url: str, params: Mapping[str, str], check: Any, *, key: str
    ) -> tuple[Any, httpx.Headers]:
        """GET with the response headers; `key` names the source's breaker (one per source, as in
        http.py: five deleted accounts must not open the breaker for every account lookup)."""

        tag = uuid.uuid4().hex
        self._tap.expect(tag)
        try:
            payload = await fetch_json(
                self.client,
                url,
                params=params or None,
                headers={**self._auth, _REQUEST_ID: tag},
                source_key=key,
                check=check,
            )
        except RateLimited as exc:
            # Mastodon's 429 carries no Retry-After; the reset time is in X-RateLimit-Reset.
            if exc.retry_after is None:
                exc.retry_after = rate_limit_reset_s(self._tap.pop(tag))
            raise
        finally:
            headers = self._tap.pop(tag)
        return payload, headers

    def _instance(self, source: SourceSpec) -> str:
        instance = str(source.options.get("instance") or self.settings.base_url or "").strip().rstrip("/")
        if not instance:
            raise CollectorError("mastodon needs [collectors.mastodon] base_url or options.instance")
        if "://" not in instance:
            instance = "https://" + instance
        parts = urlsplit(instance)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CollectorError(f"mastodon instance must be an http(s) URL, got {instance!r}")
        return instance

    async def collect(self, source: SourceSpec, cursor: Mapping[str, Any]) -> AsyncIterator[Page]:
        if source.kind not in self.kinds:
            raise CollectorError(f"mastodon has no kind {source.kind!r}; use one of {sorted(self.kinds)}")
        instance = self._instance(source)
        key = f"mastodon:{source.kind}:{source.target.strip()}@{instance}"
        authors: tuple[Author, ...] = ()
        if source.kind == "account":
            acct = source.target.strip()
            if not _ACCT.match(acct):
                raise CollectorError(f"not a Mastodon handle: {acct!r}")
            account, _ = await self._get(
                f"{instance}/api/v1/accounts/lookup", {"acct": acct.lstrip("@")}, _expect_account, key=key
            )
            author = parse_account(account)
            authors = (author,)
            endpoint = _Endpoint(
                f"/api/v1/accounts/{quote(account['id'], safe='')}/statuses",
                _bool_params(source.options, ("exclude_replies", "exclude_reblogs", "only_media")),
            )
        elif source.kind == "hashtag":
            match = _TAG.match(source.target.strip())
            if not match:
                raise CollectorError(f"not a hashtag: {source.target!r}")
            endpoint = _Endpoint(
                f"/api/v1/timelines/tag/{quote(match.group(1), safe='')}",
                _bool_params(source.options, ("local", "remote", "only_media")),
            )
        else:
            endpoint = _Endpoint(
                "/api/v1/timelines/public", _bool_params(source.options, ("local", "remote", "only_media"))
            )

        async for page in self._pages(instance, endpoint, cursor, authors, key=key):
            yield page

    async def _pages(
        self,
        instance: str,
        endpoint: _Endpoint,
        cursor: Mapping[str, Any],
        authors: tuple[Author, ...],
        *,
        key: str,
    ) -> AsyncIterator[Page]:
        previous = cursor.get("min_id")
        # Mastodon ids are decimal snowflakes; Pleroma/Akkoma use other opaque, URL-safe ids.
        newest = previous if isinstance(previous, str) and _CURSOR_ID.match(previous) else None
        url = instance + endpoint.path
        pending_authors = authors
        budget = self.settings.max_pages_per_run
        params: dict[str, str] = {**endpoint.params, "limit": str(PAGE_LIMIT)}
        incremental = newest is not None
        if incremental and budget >= 2:
            # The newest page first: it refreshes the counts of recent statuses seen before and,
            # when it reaches back to the cursor, holds every new status (one request in all).
            # Otherwise more arrived than a page holds: its statuses are stored, the cursor stays,
            # and the gap is read oldest-first from the cursor below (min_id never skips).
            payload, headers = await self._get(url, params, _expect_list, key=key)
            ids = local_ids(payload)
            assert newest is not None
            floor = _id_key(newest)
            reached = not ids or any(_id_key(i) <= floor for i in ids)
            yield Page(
                cursor={"min_id": newest_id([*ids, newest]) or newest} if reached else dict(cursor),
                posts=parse_statuses(payload),
                authors=pending_authors,
            )
            pending_authors = ()
            if reached:
                return
            _raise_if_exhausted(headers, url)
            budget -= 1
        if incremental:
            assert newest is not None
            params["min_id"] = newest
        for page_no in range(budget):
            payload, headers = await self._get(url, params, _expect_list, key=key)
            posts = parse_statuses(payload)
            ids = local_ids(payload)
            links = parse_link_header(headers.get("link"))
            if ids:
                newest = newest_id([*ids, *([newest] if newest else [])])
            if posts or pending_authors or page_no == 0:
                yield Page(
                    cursor={"min_id": newest} if newest else dict(cursor),
                    posts=posts,
                    authors=pending_authors,
                )
                pending_authors = ()
            if not ids:
                return
            if incremental:
                # Newer statuses after this page: rel="prev" carries min_id=<newest of the page>.
                next_min = link_param(links.get("prev"), "min_id") or newest_id(ids)
                assert next_min is not None
                params = {**endpoint.params, "limit": str(PAGE_LIMIT), "min_id": next_min}
            else:
                next_max = link_param(links.get("next"), "max_id")
                if next_max is None:
                    return
                params = {**endpoint.params, "limit": str(PAGE_LIMIT), "max_id": next_max}
            _raise_if_exhausted(headers, url)


def _raise_if_exhausted(headers: httpx.Headers, url: str) -> None:
    """`X-RateLimit-Remaining: 0` after a page: stop before the next request, with the reset time."""

    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        raise RateLimited(
            "Mastodon rate limit exhausted (X-RateLimit-Remaining: 0)",
            retry_after=rate_limit_reset_s(headers),
            url=url,
        )


def _bool_params(options: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in names:
        value = options.get(name)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise CollectorError(f"mastodon option {name} must be true or false, got {value!r}")
        params[name] = "true" if value else "false"
    return params
