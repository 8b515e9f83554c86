"""Tests for collectors.mastodon: entity parsing, Link paging, incremental min_id runs, rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import (
    Author,
    CollectorError,
    CollectorSettings,
    LoginRequired,
    Page,
    ParseError,
    Post,
    RateLimited,
    SourceGone,
    SourceSpec,
)
from collectors.http import CircuitOpen, HostLimiters, make_client
from collectors.mastodon import (
    TOKEN_ENV,
    MastodonCollector,
    link_param,
    newest_id,
    parse_account,
    parse_link_header,
    parse_search,
    parse_status,
    parse_statuses,
    rate_limit_reset_s,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"
SHARED = Path(os.environ.get("KOLWATCH_SHARED", Path(__file__).resolve().parents[3] / "shared"))
INSTANCE = "https://social.example.test"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------- parsing

LAB = Author(
    platform="mastodon",
    author_id="kafei_lab@social.example.test",
    name="咖啡实验室",
    url="https://social.example.test/@kafei_lab",
    followers=2048,
    verified=True,
    verified_type=None,
    description="独立咖啡测评，\n不接广告。",
    following=12,
    posts_count=345,
)


def test_account_field_by_field() -> None:
    assert parse_account(load("accounts_lookup.json")) == LAB


def test_timeline_field_by_field_with_reblog_and_reply() -> None:
    posts = parse_statuses(load("timelines_tag.json"))
    assert [p.post_id for p in posts] == [
        "https://social.example.test/users/kafei_lab/statuses/110000000000000103",
        "https://other.example.test/users/teahouse/statuses/778899",
        "https://social.example.test/users/kafei_lab/statuses/110000000000000102/activity",
        "https://social.example.test/users/kafei_lab/statuses/110000000000000101",
    ]
    plain, original, reblog, reply = posts
    assert plain == Post(
        platform="mastodon",
        post_id="https://social.example.test/users/kafei_lab/statuses/110000000000000103",
        url="https://social.example.test/@kafei_lab/110000000000000103",
        author=LAB,
        text="生椰拿铁二代试喝：\n甜度降低，好评！#瑞幸",
        created_at=datetime(2024, 6, 3, 8, 30, 0, 123000, tzinfo=UTC),
        likes=31,
        reposts=7,
        comments=2,
        views=None,
        is_repost=False,
        parent_id=None,
        kind="post",
    )
    assert plain.raw is not None and plain.raw["id"] == "110000000000000103"
    # The reblogged original keeps its own (remote, bot) author and counts.
    assert original.author == Author(
        platform="mastodon",
        author_id="teahouse@other.example.test",
        name="茶馆日报",
        url="https://other.example.test/@teahouse",
        followers=99,
        verified=False,
        verified_type="bot",
        following=12,
        posts_count=345,
    )
    assert original.text == "今天的 #瑞幸 新品排队很长"
    assert original.url == "https://other.example.test/@teahouse/778899"
    assert (original.likes, original.reposts, original.comments) == (6, 5, 4)
    assert not original.is_repost
    assert reblog.is_repost and reblog.parent_id == original.post_id
    assert reblog.author == LAB and reblog.text == ""
    assert reblog.url == reblog.post_id  # reblogs have no url of their own
    # Content warning first; invisible URL spans are kept whole.
    assert reply.text == "吐槽\n店员态度太差了 https://cafe.example.test/r/1"
    assert reply.raw is not None and reply.raw["in_reply_to_id"] == "110000000000000050"


def test_link_header_and_rate_limit_helpers() -> None:
    headers = load("timelines_tag.headers.json")["headers"]
    links = parse_link_header(headers["link"])
    assert link_param(links["next"], "max_id") == "110000000000000101"
    assert link_param(links["prev"], "min_id") == "110000000000000103"
    assert parse_link_header(None) == {} and parse_link_header("garbage, <x>; foo") == {}
    assert parse_link_header('<https://a.test/?max_id=1>; rel="next prev"') == {
        "next": "https://a.test/?max_id=1",
        "prev": "https://a.test/?max_id=1",
    }
    now = datetime(2024, 6, 3, 8, 59, tzinfo=UTC)
    assert rate_limit_reset_s(headers, now=now) == 60.0
    assert rate_limit_reset_s({"x-ratelimit-reset": "soon"}, now=now) is None
    assert rate_limit_reset_s({"x-ratelimit-reset": "2024-06-03T08:00:00Z"}, now=now) == 0.0
    assert newest_id(["99", "100", "0101"]) == "0101"
    assert newest_id([]) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"error": "x"},
        [1],
        [{"id": 5}],
        [{"id": "1", "created_at": "yesterday", "uri": "u", "account": load("accounts_lookup.json")}],
        [{"id": "1", "created_at": "2024-01-01T00:00:00Z", "uri": "u", "account": None}],
        [{"id": "1", "created_at": "2024-01-01T00:00:00Z", "account": load("accounts_lookup.json")}],
        [
            {
                "id": "1",
                "created_at": "2024-01-01T00:00:00Z",
                "uri": "u",
                "favourites_count": "many",
                "account": load("accounts_lookup.json"),
            }
        ],
        [{"id": "1", "created_at": "2024-01-01T00:00:00Z", "uri": "u", "account": {"acct": "x"}}],
    ],
)
def test_malformed_statuses_are_parse_errors(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_statuses(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
status_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | st.integers(),
        "created_at": st.sampled_from(["2024-01-01T00:00:00Z", "", "x"]) | st.text(max_size=10),
        "uri": st.text(max_size=10),
        "content": st.text(max_size=40) | st.integers(),
        "reblog": st.none() | json_values,
        "account": st.fixed_dictionaries(
            {},
            optional={
                "acct": st.text(max_size=8),
                "url": st.text(max_size=20),
                "followers_count": json_values,
            },
        )
        | json_values,
        "favourites_count": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(status_like, max_size=3) | json_values)
def test_arbitrary_json_raises_only_parse_errors(payload: Any) -> None:
    with contextlib.suppress(CollectorError):
        parse_statuses(payload)
    with contextlib.suppress(CollectorError):
        parse_search(payload)
    with contextlib.suppress(CollectorError):
        parse_account(payload)


# ------------------------------------------------------------------------------------ collector


def make_status(local_id: int) -> dict[str, Any]:
    account = load("accounts_lookup.json")
    return {
        "id": str(local_id),
        "created_at": (datetime(2024, 6, 1, tzinfo=UTC) + timedelta(minutes=local_id)).isoformat(),
        "uri": f"{INSTANCE}/users/kafei_lab/statuses/{local_id}",
        "url": f"{INSTANCE}/@kafei_lab/{local_id}",
        "content": f"<p>第{local_id}条 #瑞幸</p>",
        "spoiler_text": "",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": local_id,
        "reblog": None,
        "account": account,
    }


class FakeInstance:
    """A Mastodon timeline of statuses 1..n with the real paging semantics (newest first)."""

    def __init__(self, n: int, *, page_size: int = 3, remaining: Callable[[int], str] | None = None) -> None:
        self.ids = list(range(1, n + 1))
        self.page_size = page_size
        self.requests: list[httpx.Request] = []
        self.remaining = remaining or (lambda i: "299")
        self.likes: dict[int, int] = {}  # favourites_count overrides (default: the id)

    def add(self, k: int) -> None:
        start = self.ids[-1] + 1 if self.ids else 1
        self.ids.extend(range(start, start + k))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        limit = min(int(query.get("limit", "20")), self.page_size)
        ids = sorted(self.ids, reverse=True)
        if "max_id" in query:
            page = [i for i in ids if i < int(query["max_id"])][:limit]
        elif "min_id" in query:
            # min_id: the statuses immediately after it (oldest first), returned newest first.
            page = sorted([i for i in ids if i > int(query["min_id"])])[:limit][::-1]
        elif "since_id" in query:
            page = [i for i in ids if i > int(query["since_id"])][:limit]
        else:
            page = ids[:limit]
        base = str(request.url.copy_with(query=None))
        links = []
        if page:
            links.append(f'<{base}?max_id={page[-1]}>; rel="next"')
            links.append(f'<{base}?min_id={page[0]}>; rel="prev"')
        headers = {
            "link": ", ".join(links),
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": self.remaining(len(self.requests)),
            "x-ratelimit-reset": (datetime.now(UTC) + timedelta(seconds=120)).isoformat(),
        }
        statuses = [{**make_status(i), "favourites_count": self.likes.get(i, i)} for i in page]
        return httpx.Response(200, json=statuses, headers=headers)


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> httpx.AsyncClient:
    cs = CollectorSettings(base_url=INSTANCE, rate_per_s=1000, burst=100, retries=0, backoff_base_s=0, **kw)
    return make_client(cs, transport=httpx.MockTransport(handler), limiters=HostLimiters())


async def run(collector: MastodonCollector, source: SourceSpec, cursor: dict[str, Any]) -> list[Page]:
    return [page async for page in collector.collect(source, cursor)]


def local_id(post: Post) -> int:
    return int(post.post_id.rsplit("/", 1)[1])


async def test_first_run_backfills_then_incremental_runs_have_no_gaps_or_duplicates() -> None:
    server = FakeInstance(10, page_size=3)
    settings_ = CollectorSettings(base_url=INSTANCE, max_pages_per_run=2)
    source = SourceSpec("mastodon", "hashtag", "#瑞幸")
    async with client_for(server, max_pages_per_run=2) as client:
        collector = MastodonCollector(client, settings_, environ={})
        first = await run(collector, source, {})
        assert [[local_id(p) for p in page.posts] for page in first] == [[10, 9, 8], [7, 6, 5]]
        assert all(page.cursor == {"min_id": "10"} for page in first)
        assert "/api/v1/timelines/tag/%E7%91%9E%E5%B9%B8" in str(server.requests[0].url)
        assert "max_id=8" in str(server.requests[1].url)

        server.add(7)  # 11..17 arrive: more than the newest page holds
        second = await run(collector, source, first[-1].cursor)
        # The newest page is stored but cannot move the cursor (14 is missing); the gap is then
        # read oldest-first from the cursor.
        assert [[local_id(p) for p in page.posts] for page in second] == [[17, 16, 15], [13, 12, 11]]
        assert [page.cursor for page in second] == [{"min_id": "10"}, {"min_id": "13"}]
        assert "min_id" not in str(server.requests[2].url)
        assert "min_id=10" in str(server.requests[3].url)

        third = await run(collector, source, second[-1].cursor)
        assert [[local_id(p) for p in page.posts] for page in third] == [[17, 16, 15], [16, 15, 14]]
        assert third[-1].cursor == {"min_id": "16"}

        fourth = await run(collector, source, third[-1].cursor)  # the newest page reaches 16: done
        assert [[local_id(p) for p in page.posts] for page in fourth] == [[17, 16, 15]]
        assert fourth[-1].cursor == {"min_id": "17"}

        requests_before = len(server.requests)
        server.likes[16] = 999
        quiet = await run(collector, source, fourth[-1].cursor)
        assert len(server.requests) == requests_before + 1  # one request when nothing is new
        assert [page.cursor for page in quiet] == [{"min_id": "17"}]
        refreshed = {local_id(p): p.likes for p in quiet[0].posts}
        assert refreshed == {17: 17, 16: 999, 15: 15}  # seen before, yielded again with fresh counts
    seen = [local_id(p) for pages in (first, second, third, fourth) for page in pages for p in page.posts]
    assert sorted(set(seen)) == list(range(5, 18))


async def test_budget_of_one_page_still_catches_up_with_min_id() -> None:
    server = FakeInstance(10, page_size=3)
    source = SourceSpec("mastodon", "hashtag", "#瑞幸")
    async with client_for(server, max_pages_per_run=1) as client:
        collector = MastodonCollector(
            client, CollectorSettings(base_url=INSTANCE, max_pages_per_run=1), environ={}
        )
        cursor: dict[str, Any] = {"min_id": "4"}
        for expected in ("7", "10", "10"):
            pages = await run(collector, source, cursor)
            cursor = pages[-1].cursor
            assert cursor == {"min_id": expected}


async def test_remaining_zero_stops_with_rate_limited_after_the_page() -> None:
    server = FakeInstance(10, page_size=3, remaining=lambda i: "0")
    source = SourceSpec("mastodon", "public", "social.example.test", options={"local": True})
    async with client_for(server) as client:
        collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
        pages: list[Page] = []
        with pytest.raises(RateLimited) as info:
            async for page in collector.collect(source, {}):
                pages.append(page)
    assert len(pages) == 1 and len(pages[0].posts) == 3  # the page we got is kept
    assert info.value.retry_after is not None and 100 < info.value.retry_after <= 120
    assert len(server.requests) == 1
    assert "local=true" in str(server.requests[0].url)


def recorded(name: str, folder: Path = FIXTURES) -> tuple[int, dict[str, str], bytes]:
    meta = json.loads((folder / f"{name}.headers.json").read_text())
    return meta["status"]["code"], meta["headers"], (folder / f"{name}.json").read_bytes()


@pytest.mark.parametrize(
    ("name", "kind", "error"),
    [
        ("accounts_lookup_404", "account", SourceGone),
        ("timelines_public_401", "public", LoginRequired),
        ("timelines_tag_429", "hashtag", RateLimited),
    ],
)
async def test_recorded_errors_map_to_health(name: str, kind: str, error: type[CollectorError]) -> None:
    status, headers, body = recorded(name)
    async with client_for(lambda r: httpx.Response(status, headers=headers, content=body)) as client:
        collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
        with pytest.raises(error) as info:
            await run(collector, SourceSpec("mastodon", kind, "kafei_lab"), {})
    if error is RateLimited:
        # No Retry-After on Mastodon's 429: the wait comes from X-RateLimit-Reset (in the past here).
        assert info.value.retry_after == 0.0  # type: ignore[attr-defined]


async def test_account_kind_yields_profile_then_statuses_with_token() -> None:
    status, headers, body = recorded("accounts_lookup")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/accounts/lookup":
            return httpx.Response(status, headers=headers, content=body)
        assert request.url.path == "/api/v1/accounts/110000000000000001/statuses"
        return httpx.Response(200, content=(FIXTURES / "timelines_tag.json").read_bytes())

    async with client_for(handler) as client:
        collector = MastodonCollector(
            client, CollectorSettings(base_url=INSTANCE), environ={TOKEN_ENV: "tok-123"}
        )
        source = SourceSpec("mastodon", "account", "@kafei_lab", options={"exclude_replies": True})
        pages = await run(collector, source, {})
    assert pages[0].authors == (LAB,)
    assert len(pages[0].posts) == 4
    assert pages[0].cursor == {"min_id": "110000000000000103"}
    assert seen[0].url.params["acct"] == "kafei_lab"
    assert seen[1].url.params["exclude_replies"] == "true"
    assert all(r.headers["authorization"] == "Bearer tok-123" for r in seen)


async def test_no_token_no_authorization_header_and_bad_targets() -> None:
    server = FakeInstance(1)
    async with client_for(server) as client:
        collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
        await run(collector, SourceSpec("mastodon", "public", ""), {})
        assert "authorization" not in server.requests[0].headers
        for source in (
            SourceSpec("mastodon", "account", "not a handle"),
            SourceSpec("mastodon", "hashtag", "two words"),
            SourceSpec("mastodon", "search", "x"),
            SourceSpec("mastodon", "public", "", options={"local": "yes"}),
            SourceSpec("mastodon", "public", "", options={"instance": "ftp://x.test"}),
        ):
            with pytest.raises(CollectorError):
                await run(collector, source, {})


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([200, 400, 422, 500]))
def test_arbitrary_response_bodies_raise_only_collector_errors(body: bytes, status: int) -> None:
    async def go() -> None:
        async with client_for(lambda r: httpx.Response(status, content=body)) as client:
            collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
            with contextlib.suppress(CollectorError):
                await run(collector, SourceSpec("mastodon", "public", ""), {})

    asyncio.run(go())


# ------------------------------------------------------------------------------------ conformance


def _shared_mastodon() -> list[Path]:
    folder = SHARED / "fixtures" / "mastodon"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.endswith(".headers.json"))


@pytest.mark.skipif(
    not _shared_mastodon(), reason=f"shared fixtures not found at {SHARED} (set KOLWATCH_SHARED)"
)
@pytest.mark.parametrize("path", _shared_mastodon(), ids=lambda p: p.name)
async def test_every_shared_mastodon_fixture(path: Path) -> None:
    name = path.name.removesuffix(".json")
    body = path.read_bytes()
    headers_file = path.with_name(f"{name}.headers.json")
    if not headers_file.exists():
        # Documentation samples: bodies without a recorded response around them.
        payload = json.loads(body)
        if name.startswith("error_"):
            code = int(name.split("_")[1])
            expected = {404: SourceGone, 429: RateLimited}[code]
            async with client_for(lambda r: httpx.Response(code, content=body)) as client:
                collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
                with pytest.raises(expected):
                    await run(collector, SourceSpec("mastodon", "public", ""), {})
        elif name == "account_get":
            author = parse_account(payload)
            assert author.author_id == f"{payload['acct']}@{urlsplit(payload['url']).netloc}"
            assert (author.followers, author.posts_count) == (
                payload["followers_count"],
                payload["statuses_count"],
            )
            assert author.verified  # the Homepage field has verified_at
        elif name.startswith("search"):
            # The docs' sample elides each status's account and uri and the accounts' urls, so it
            # cannot become attributed posts: it must be refused, not stored half-empty.
            with pytest.raises(ParseError):
                parse_search(payload)
            merged = [{**make_status(1), **s, "uri": f"{INSTANCE}/s/{s['id']}"} for s in payload["statuses"]]
            assert [p.text for p in parse_statuses(merged)] == [
                "cats\ncats never change",
                "Cats\nCats are inherently good at self-care.\n#cats",
            ]
        elif isinstance(payload, list):
            posts = parse_statuses(payload)
            assert len(posts) >= len(payload) > 0
        else:
            posts = parse_status(payload)
            assert posts[0].text and posts[0].author.followers is not None
        return

    meta = json.loads(headers_file.read_text())
    status, headers = meta["status"]["code"], meta["headers"]
    request_url = urlsplit(meta["request"]["uri"])
    instance = f"{request_url.scheme}://{request_url.netloc}"
    path_ = request_url.path
    if path_.startswith("/api/v2/search"):
        posts, authors = parse_search(json.loads(body))
        assert authors and all(a.author_id.endswith("@localhost:3000") for a in authors)
        return
    if path_.startswith("/api/v1/accounts/lookup"):
        source = SourceSpec("mastodon", "account", parse_qs(request_url.query)["acct"][0])
    elif path_.startswith("/api/v1/timelines/tag/"):
        source = SourceSpec("mastodon", "hashtag", path_.rsplit("/", 1)[1])
    else:  # public and home timelines: replay the recorded answer on the public timeline
        source = SourceSpec("mastodon", "public", "")

    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(status, headers=headers, content=body)
        # Later calls: the account's statuses after a lookup, or the older page the Link points to.
        return httpx.Response(200, json=[])

    async with client_for(handler) as client:
        collector = MastodonCollector(client, CollectorSettings(base_url=instance), environ={})
        if status == 401:
            with pytest.raises(LoginRequired):
                await run(collector, source, {})
            return
        if status == 404:
            with pytest.raises(SourceGone):
                await run(collector, source, {})
            return
        assert status == 200
        pages = await run(collector, source, {})
    if source.kind == "account":
        assert pages[0].authors and pages[0].authors[0].author_id == "mastodonpy_test@localhost:3000"
        return
    statuses = json.loads(body)
    posts = [p for page in pages for p in page.posts]
    assert len(posts) == len(statuses) + sum(1 for s in statuses if s.get("reblog"))
    for post, status_ in zip(posts, statuses, strict=False):
        assert post.created_at.tzinfo is not None
        assert post.likes == status_["favourites_count"]
        assert post.author.followers == status_["account"]["followers_count"]
        assert "<" not in post.text
    # The recorded Link header paged us to the next (older) page, which the replay answers empty.
    assert pages[0].cursor == {"min_id": newest_id([s["id"] for s in statuses])}


async def test_two_collectors_on_one_client_keep_only_their_own_headers() -> None:
    server = FakeInstance(4, page_size=2)
    async with client_for(server, max_pages_per_run=1) as client:
        one = MastodonCollector(client, CollectorSettings(base_url=INSTANCE, max_pages_per_run=1), environ={})
        two = MastodonCollector(client, CollectorSettings(base_url=INSTANCE, max_pages_per_run=1), environ={})
        for collector in (one, two, one):
            pages = await run(collector, SourceSpec("mastodon", "public", ""), {})
            assert pages[0].cursor == {"min_id": "4"}
        assert len(client.event_hooks["response"]) == 1  # collectors built per run share one tap
    assert one._tap is two._tap
    assert one._tap.by_request == {} and one._tap.pending == set()


async def test_breaker_is_per_source_not_per_endpoint() -> None:
    """Five deleted accounts in a row must not open the breaker for every account lookup."""

    status, headers, body = recorded("accounts_lookup")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/accounts/lookup":
            if request.url.params["acct"] == "kafei_lab":
                return httpx.Response(status, headers=headers, content=body)
            return httpx.Response(404, json={"error": "Record not found"})
        return httpx.Response(200, json=[])

    async with client_for(handler, breaker_threshold=5) as client:
        collector = MastodonCollector(client, CollectorSettings(base_url=INSTANCE), environ={})
        for gone in ("gone1", "gone2", "gone3", "gone4", "gone5"):
            with pytest.raises(SourceGone):
                await run(collector, SourceSpec("mastodon", "account", gone), {})
        pages = await run(collector, SourceSpec("mastodon", "account", "kafei_lab"), {})
        assert pages[0].authors == (LAB,)
        for _ in range(4):  # gone1 failing five times in all does open its own breaker
            with contextlib.suppress(SourceGone):
                await run(collector, SourceSpec("mastodon", "account", "gone1"), {})
        with pytest.raises(CircuitOpen):
            await run(collector, SourceSpec("mastodon", "account", "gone1"), {})
        assert (await run(collector, SourceSpec("mastodon", "account", "kafei_lab"), {}))[0].authors == (LAB,)
