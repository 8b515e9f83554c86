"""Bot pieces without Telegram: storage.bot_repo (validation, workspace isolation), the rate-limit
window, the 429 retry middleware, argument/period parsing and page-button decoding with hostile
input, and run_polling's start/stop contract."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import BotConfigError, build_bot, command_menu, run_polling
from bot.middlewares import RetryAfterMiddleware, SlidingWindow
from bot.routers.common import parse_period, watch_and_period, window
from bot.routers.mentions import pack_page, unpack_page
from kolwatch.settings import BotSettings, Secrets, Settings
from nlp.query import QuerySyntaxError
from storage import bot_repo, repos
from storage.bot_repo import AlreadyExists, BotRepoError, NotFound
from storage.db import Database
from storage.models import AuthorRow, PostRow, SentimentFeedbackRow
from tests.bot.fake_telegram import TOKEN, FakeTelegram

# --------------------------------------------------------------------------- storage.bot_repo


def _setup(db: Database) -> dict[str, int]:
    with db.write() as s:
        repos.sync_config(
            s,
            workspaces=[
                repos.WorkspaceSpec("a", chats=(1,), admins=(7,), watches=(repos.WatchSpec("w", "x OR y"),)),
                repos.WorkspaceSpec("b", chats=(2,), watches=(repos.WatchSpec("v", "z"),)),
            ],
            sources=[],
        )
    with db.read() as s:
        a, b = bot_repo.chat_access(s, chat_id=1, user_id=7), bot_repo.chat_access(s, chat_id=2, user_id=7)
        assert a is not None and b is not None
        watch_b = bot_repo.get_watch(s, workspace_id=b.workspace_id, name="v")
    with db.write() as s:
        author = AuthorRow(platform="weibo", author_id="1", name="n")
        s.add(author)
        s.flush()
        post = PostRow(
            platform="weibo", post_id="p", author_pk=author.id or 0, text="z", created_at=datetime.now(UTC)
        )
        s.add(post)
        s.flush()
        repos.add_mentions(s, mentions=[repos.MentionSpec(watch_b.id, post.id or 0, post.created_at)])
    return {"a": a.workspace_id, "b": b.workspace_id, "post_b": post.id or 0}


def test_chat_access_knows_workspace_and_admins(sqlite_db: Database) -> None:
    ids = _setup(sqlite_db)
    with sqlite_db.read() as s:
        admin = bot_repo.chat_access(s, chat_id=1, user_id=7)
        other = bot_repo.chat_access(s, chat_id=1, user_id=8)
        assert admin is not None and admin.is_admin and admin.workspace == "a"
        assert other is not None and not other.is_admin
        assert bot_repo.chat_access(s, chat_id=3, user_id=7) is None
        assert bot_repo.chat_access(s, chat_id=1, user_id=None) is not None
        assert bot_repo.is_admin(s, workspace_id=ids["a"], user_id=7)
        assert not bot_repo.is_admin(s, workspace_id=ids["b"], user_id=7)  # admin of a, not of b


def test_watch_lifecycle_and_validation(sqlite_db: Database) -> None:
    ids = _setup(sqlite_db)
    ws = ids["a"]
    with sqlite_db.write() as s:
        w = bot_repo.add_watch(s, workspace_id=ws, name="新品", query='瑞幸 "生椰"', competitors=("库迪",))
        assert w.enabled and w.competitors == ("库迪",)
        with pytest.raises(AlreadyExists):
            bot_repo.add_watch(s, workspace_id=ws, name="新品", query="x")
        with pytest.raises(QuerySyntaxError) as info:
            bot_repo.add_watch(s, workspace_id=ws, name="坏", query="a AND (b OR")
        assert info.value.position >= 0 and "^" in str(info.value)
        # As settings.toml's watches are checked: a platform typo, and a query no term anchors.
        with pytest.raises(QuerySyntaxError, match="weibp"):
            bot_repo.add_watch(
                s, workspace_id=ws, name="坏", query="瑞幸 platform:weibp", platforms={"weibo"}
            )
        for unanchored in ("NOT 瑞幸", "platform:weibo"):
            with pytest.raises(BotRepoError, match="term that must appear"):
                bot_repo.add_watch(s, workspace_id=ws, name="坏", query=unanchored)
        with pytest.raises(BotRepoError, match="term that must appear"):
            bot_repo.edit_watch(s, workspace_id=ws, name="新品", query="NOT 瑞幸")
        for bad in ("", "a b", "x:y", "a/b", "\x00", "名" * 65):
            with pytest.raises(BotRepoError):
                bot_repo.add_watch(s, workspace_id=ws, name=bad, query="x")
        with pytest.raises(BotRepoError):
            bot_repo.add_watch(
                s, workspace_id=ws, name="c", query="x", competitors=tuple(f"c{i}" for i in range(11))
            )
        bot_repo.edit_watch(s, workspace_id=ws, name="新品", query="瑞幸 NEAR/3 新品")
        bot_repo.remove_watch(s, workspace_id=ws, name="新品")
        with pytest.raises(NotFound):
            bot_repo.remove_watch(s, workspace_id=ws, name="新品")
        with pytest.raises(NotFound):
            bot_repo.edit_watch(s, workspace_id=ws, name="新品", query="x")
        again = bot_repo.add_watch(s, workspace_id=ws, name="新品", query="回来")
        assert again.id == w.id and again.query == "回来"  # re-enabled, history kept
        with pytest.raises(NotFound):  # another workspace's watch is invisible
            bot_repo.get_watch(s, workspace_id=ws, name="v")
        with pytest.raises(NotFound):
            bot_repo.remove_watch(s, workspace_id=ws, name="v")
    with sqlite_db.read() as s:
        assert [w.name for w in bot_repo.list_watches(s, workspace_id=ws)] == ["w", "新品"]


def test_alert_prefs_bounds(sqlite_db: Database) -> None:
    ids = _setup(sqlite_db)
    with sqlite_db.write() as s:
        assert bot_repo.set_min_level(s, workspace_id=ids["a"], chat_id=1, level=4).min_level == 4
        for bad in (0, 5, -1):
            with pytest.raises(BotRepoError):
                bot_repo.set_min_level(s, workspace_id=ids["a"], chat_id=1, level=bad)
        with pytest.raises(ValueError):
            bot_repo.mute_chat(s, workspace_id=ids["a"], chat_id=1, until=datetime(2030, 1, 1))
        until = datetime.now(UTC) + timedelta(hours=2)
        assert bot_repo.mute_chat(s, workspace_id=ids["a"], chat_id=1, until=until).muted_until == until
        assert bot_repo.mute_chat(s, workspace_id=ids["a"], chat_id=1, until=None).muted_until is None
        assert not bot_repo.set_subscribed(s, workspace_id=ids["a"], chat_id=1, subscribed=False).subscribed
        with pytest.raises(NotFound):  # chat 2 belongs to workspace b
            bot_repo.set_min_level(s, workspace_id=ids["a"], chat_id=2, level=2)
    with sqlite_db.read() as s:
        assert repos.workspace_targets(s, workspace_id=ids["a"], level=4) == []  # unsubscribed


def test_feedback_and_ignore_only_for_visible_posts(sqlite_db: Database) -> None:
    ids = _setup(sqlite_db)
    with sqlite_db.write() as s:
        with pytest.raises(NotFound):
            bot_repo.add_feedback(
                s, workspace_id=ids["a"], post_pk=ids["post_b"], user_id=1, label="negative"
            )
        with pytest.raises(NotFound):
            bot_repo.ignore_author(s, workspace_id=ids["a"], post_pk=ids["post_b"])
        with pytest.raises(BotRepoError):
            bot_repo.add_feedback(s, workspace_id=ids["b"], post_pk=ids["post_b"], user_id=1, label="<b>")
        bot_repo.add_feedback(s, workspace_id=ids["b"], post_pk=ids["post_b"], user_id=1, label="negative")
        bot_repo.add_feedback(s, workspace_id=ids["b"], post_pk=ids["post_b"], user_id=1, label="positive")
        ref = bot_repo.ignore_author(s, workspace_id=ids["b"], post_pk=ids["post_b"])
        bot_repo.ignore_author(s, workspace_id=ids["b"], post_pk=ids["post_b"])  # idempotent
    with sqlite_db.read() as s:
        rows = s.exec(select(SentimentFeedbackRow)).scalars().all()
        assert [(r.user_id, r.label) for r in rows] == [(1, "positive")]  # replaced, not duplicated
        assert bot_repo.ignored_author_pks(s, workspace_id=ids["b"]) == {ref.author_pk}
        assert bot_repo.ignored_author_pks(s, workspace_id=ids["a"]) == set()
        (listed,) = bot_repo.ignored_authors(s, workspace_id=ids["b"])
        assert (listed.author_pk, listed.name) == (ref.author_pk, ref.author_name)
        assert listed.ignored_at.tzinfo is not None
        assert bot_repo.ignored_authors(s, workspace_id=ids["a"]) == []
    with sqlite_db.write() as s:
        # Another workspace cannot lift this workspace's ignore.
        assert not bot_repo.unignore_author(s, workspace_id=ids["a"], author_pk=ref.author_pk)
        assert bot_repo.unignore_author(s, workspace_id=ids["b"], author_pk=ref.author_pk)
        assert not bot_repo.unignore_author(s, workspace_id=ids["b"], author_pk=ref.author_pk)


# --------------------------------------------------------------------------- parsing


def test_periods_and_arguments() -> None:
    assert parse_period("24h") == timedelta(hours=24)
    assert parse_period("3天") == timedelta(days=3)
    assert parse_period("week") == timedelta(days=7)
    assert parse_period("瑞幸") is None and parse_period("7x") is None
    for bad in ("0h", "91d", "9999w"):
        with pytest.raises(BotRepoError):
            parse_period(bad)
    assert watch_and_period("7d 瑞幸", timedelta(hours=1)) == ("瑞幸", timedelta(days=7))
    assert watch_and_period("", timedelta(hours=1)) == (None, timedelta(hours=1))
    assert watch_and_period("24h", timedelta(hours=1)) == (None, timedelta(hours=24))
    with pytest.raises(BotRepoError):
        watch_and_period("a b", timedelta(hours=1))
    start, end = window(timedelta(days=1), datetime(2025, 3, 1, 10, 20, tzinfo=UTC))
    assert end == datetime(2025, 3, 1, 11, tzinfo=UTC) and end - start == timedelta(days=1)


def test_page_buttons_round_trip_and_reject_forgeries() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC)
    data = pack_page(123456789, start, end, 9995)
    assert len(data.encode()) <= 64
    assert unpack_page(data) == (123456789, start, end, 9995)
    for forged in (
        "mp:1:2:1:0",
        "mp:0:1:2:0",
        "mp:1:1:2:-5",
        "mp:1:1:2:99999",
        "mp:1:1:2",
        "xx:1:1:2:0",
        "mp:a:1:2:0",
        "mp:1:1:2:0:9",
        "mp:1:" + "z" * 60 + ":2:0",
    ):
        with pytest.raises(ValueError):
            unpack_page(forged)


@given(st.text(max_size=80))
def test_unpack_page_never_crashes_on_garbage(data: str) -> None:
    try:
        watch_id, start, end, offset = unpack_page(data)
    except ValueError:
        return
    assert watch_id >= 1 and start < end and offset >= 0


# --------------------------------------------------------------------------- middlewares


def test_sliding_window_counts_per_key() -> None:
    now = [0.0]
    window_ = SlidingWindow(2, 60.0, clock=lambda: now[0])
    assert window_.hit(1) == 0.0 and window_.hit(1) == 0.0
    assert window_.hit(1) == pytest.approx(60.0)
    assert window_.hit(2) == 0.0  # another user is unaffected
    assert window_.should_warn(1) and not window_.should_warn(1)
    now[0] = 60.5
    assert window_.hit(1) == 0.0 and window_.should_warn(1)
    with pytest.raises(ValueError):
        SlidingWindow(0)


async def test_retry_after_middleware_waits_and_gives_up() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    method = SendMessage(chat_id=1, text="x")
    attempts: list[int] = []

    async def flaky(bot: Any, m: Any) -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise TelegramRetryAfter(method=m, message="Too Many Requests", retry_after=2)
        return "ok"

    mw = RetryAfterMiddleware(max_retries=3, max_wait=10, sleep=sleep)
    assert await mw(flaky, None, method) == "ok"  # type: ignore[arg-type]
    assert slept == [2.0, 2.0]

    async def always(bot: Any, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message="Too Many Requests", retry_after=1)

    with pytest.raises(TelegramRetryAfter):
        await RetryAfterMiddleware(max_retries=2, sleep=sleep)(always, None, method)  # type: ignore[arg-type]

    async def long_wait(bot: Any, m: Any) -> Any:
        raise TelegramRetryAfter(method=m, message="Too Many Requests", retry_after=3600)

    slept.clear()
    with pytest.raises(TelegramRetryAfter):  # a handler must not hang for an hour
        await RetryAfterMiddleware(max_wait=30, sleep=sleep)(long_wait, None, method)  # type: ignore[arg-type]
    assert slept == []


# --------------------------------------------------------------------------- app


def test_command_menu_fits_telegram_rules() -> None:
    for language in ("en", "zh"):
        menu = command_menu(language)
        assert len({c.command for c in menu}) == len(menu) <= 100
        assert all(c.command.islower() and 1 <= len(c.command) <= 32 for c in menu)
        assert all(1 <= len(c.description) <= 256 for c in menu)


def test_build_bot_needs_a_token() -> None:
    with pytest.raises(BotConfigError, match="KOLWATCH_BOT_TOKEN"):
        build_bot(Settings(), Secrets({}))


async def test_run_polling_stops_when_asked(sqlite_db: Database) -> None:
    async with FakeTelegram() as fake:
        settings = Settings(bot=BotSettings(api_base=fake.base_url))
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_polling(settings, Secrets({"KOLWATCH_BOT_TOKEN": TOKEN}), sqlite_db, stop, polling_timeout=1)
        )
        await fake.wait_for("getUpdates")
        started = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert asyncio.get_running_loop().time() - started < 2
        assert [c.method for c in fake.calls[:2]] == ["setMyCommands", "setMyCommands"]


async def test_run_polling_raises_when_polling_cannot_start(sqlite_db: Database) -> None:
    async with FakeTelegram() as fake:
        settings = Settings(bot=BotSettings(api_base=fake.base_url))
        wrong = Secrets({"KOLWATCH_BOT_TOKEN": "41:WRONG-token"})  # the fake answers 401
        with pytest.raises(Exception, match="Unauthorized"):
            await asyncio.wait_for(
                run_polling(settings, wrong, sqlite_db, asyncio.Event(), polling_timeout=1), 10
            )


def test_mentions_header_says_when_the_total_was_capped() -> None:
    from bot.render import visible_text
    from bot.routers.mentions import TOTAL_CAP, render_page
    from storage import queries

    watch = queries.WatchRef(1, 1, "acme", "Asia/Shanghai", "鹿角", "鹿角", (), True)
    item = queries.MentionItem(
        1,
        1,
        "weibo",
        "p1",
        "https://m.weibo.cn/status/p1",
        "",
        "鹿角咖啡",
        datetime(2026, 3, 9, tzinfo=UTC),
        1,
        "a1",
        "博主",
        "",
        None,
        1,
        0,
        0,
        None,
        None,
        "neutral",
        "",
        (),
    )
    small = queries.MentionPage(items=(item,), next_cursor=None, total=12, offset=5)
    big = queries.MentionPage(items=(item,), next_cursor=None, total=TOTAL_CAP, offset=5)
    assert "12 条 · 第 2/3 页" in visible_text(render_page(watch, small, "7d", "Asia/Shanghai"))
    assert "10,000+ 条 · 第 2 页" in visible_text(render_page(watch, big, "7d", "Asia/Shanghai"))
