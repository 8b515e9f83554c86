"""The whole bot end to end: `bot.app.run_polling` (real aiogram Dispatcher, real Bot, real HTTP)
long-polls the local fake Bot API server; every command, pagination, feedback buttons, access
control, 429 handling, splitting and escaping are checked on the wire and in the database.

One fake server, one SQLite database and one polling bot serve the whole module (start-up and
teardown cost about a second). Tests use distinct user ids, so the per-user rate limit (5 per
minute here) only bites in the test that is about it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.app import build_bot, run_polling
from bot.filters import REFUSAL_TEXT
from bot.middlewares import RetryAfterMiddleware
from kolwatch.settings import BotSettings, Secrets, Settings
from storage import repos
from storage.db import Database
from storage.models import (
    AlertRow,
    AuthorRow,
    IgnoredAuthorRow,
    KolScoreRow,
    MentionRow,
    PostRow,
    SentimentFeedbackRow,
    WatchRow,
    WorkspaceChatRow,
)
from tests.bot.fake_telegram import TOKEN, Call, FakeTelegram, parse_html

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHAT, OTHER_CHAT, FOREIGN_CHAT = -1001, -2002, -3003
ADMINS = tuple(range(11, 20))
HOSTILE_TEXT = '瑞幸 新品 <script>alert("x")</script> AT&T & <b>不是粗体</b>'
HOSTILE_AUTHOR = "<i>Evil&Co</i>"
_users = itertools.count(1000)
_admins = iter(ADMINS)


def member() -> int:
    return next(_users)


def admin() -> int:
    return next(_admins)


@dataclass
class Env:
    fake: FakeTelegram
    db: Database
    ids: dict[str, Any]
    retry: RetryAfterMiddleware


# --------------------------------------------------------------------------- data


def seed(db: Database, now: datetime) -> dict[str, Any]:
    """Two workspaces; acme's watch 瑞幸 has 12 brand mentions in the last 24 h (one hostile),
    3 competitor mentions, older mentions for trends, KOL scores, an alert and two sources."""

    ws = [
        repos.WorkspaceSpec(
            name="acme",
            chats=(CHAT,),
            admins=ADMINS,
            watches=(repos.WatchSpec("瑞幸", "瑞幸 OR luckin", ("星巴克",)),),
        ),
        repos.WorkspaceSpec(
            name="other",
            chats=(OTHER_CHAT,),
            watches=tuple(
                repos.WatchSpec(f"w{i:02d}", " OR ".join(f"品牌{i}词{j}" for j in range(12)))
                for i in range(60)
            ),
        ),
    ]
    sources = [
        repos.SourceSpecRow("acme", "weibo", "search", "瑞幸", 600),
        repos.SourceSpecRow("acme", "rss", "feed", "https://example.org/feed?a=1&b=<2>", 600),
        repos.SourceSpecRow("other", "weibo", "search", "secret-other-source", 600),
    ]
    ids: dict[str, Any] = {}
    with db.write() as s:
        repos.sync_config(s, workspaces=ws, sources=sources)
        watch = s.exec(select(WatchRow).where(WatchRow.name == "瑞幸")).scalars().one()
        other_watch = s.exec(select(WatchRow).where(WatchRow.name == "w00")).scalars().one()
        ids["watch"], ids["other_watch"] = watch.id, other_watch.id
        authors = []
        for i, name in enumerate(["咖啡博主", "数码达人", HOSTILE_AUTHOR, "路人甲"]):
            a = AuthorRow(
                platform="weibo",
                author_id=f"u{i}",
                name=name,
                url=f"https://weibo.example/u{i}",
                followers=10_000 * (i + 1) ** 2,
            )
            s.add(a)
            authors.append(a)
        s.flush()
        ids["authors"] = [a.id for a in authors]
        mentions: list[repos.MentionSpec] = []

        def post(n: int, when: datetime, author: AuthorRow, text: str, label: str, **kw: Any) -> PostRow:
            p = PostRow(
                platform="weibo",
                post_id=f"p{n}",
                url=f"https://weibo.example/p{n}",
                author_pk=author.id or 0,
                text=text,
                created_at=when,
                likes=n * 3,
                comments=n,
                reposts=n % 4,
                sentiment={"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label],
                label=label,
                **kw,
            )
            s.add(p)
            s.flush()
            return p

        labels = ["negative", "positive", "neutral", "negative"]
        brand_posts = []
        for n in range(12):
            text = HOSTILE_TEXT if n == 5 else f"瑞幸 新品 第{n}条 生椰拿铁"
            author = authors[2] if n == 5 else authors[n % 2 if n != 3 else 3]
            p = post(
                n,
                now - timedelta(hours=1, minutes=n * 50),
                author,
                text,
                labels[n % 4],
                keywords=["新品", "生椰拿铁"],
            )
            brand_posts.append(p)
            mentions.append(repos.MentionSpec(watch.id or 0, p.id or 0, p.created_at, ("瑞幸",)))
        for n in range(12, 15):
            p = post(n, now - timedelta(hours=3, minutes=n), authors[1], f"星巴克 第{n}条", "neutral")
            mentions.append(repos.MentionSpec(watch.id or 0, p.id or 0, p.created_at, ("星巴克",), "星巴克"))
        for n in range(15, 19):  # the day before: fewer, no 新品 (so it trends)
            p = post(
                n, now - timedelta(hours=30 + n), authors[0], f"瑞幸 老款 {n}", "positive", keywords=["老款"]
            )
            mentions.append(repos.MentionSpec(watch.id or 0, p.id or 0, p.created_at, ("瑞幸",)))
        other = post(99, now - timedelta(hours=2), authors[3], "品牌0词0 另一个工作区的秘密", "negative")
        mentions.append(
            repos.MentionSpec(other_watch.id or 0, other.id or 0, other.created_at, ("品牌0词0",))
        )
        ids["posts"] = [p.id for p in brand_posts]
        ids["hostile_post"] = brand_posts[5].id
        ids["other_post"] = other.id
        touched = repos.add_mentions(s, mentions=mentions)
        repos.recompute_counters(s, touched=touched)
        # A week-old ranking and the latest: /kol compares over 7 days by default.
        for computed, bonus in ((now - timedelta(days=7), 0.0), (now - timedelta(minutes=30), 1.0)):
            for rank, a in enumerate(authors[:3]):
                s.add(
                    KolScoreRow(
                        watch_id=watch.id or 0,
                        author_pk=a.id or 0,
                        computed_at=computed,
                        score=80.0 - 20 * rank + (bonus * 15 if rank == 2 else 0),
                        tier="腰部",
                        authenticity=0.9,
                        components={"reach": 0.8, "engagement": 0.6},
                        weights={"reach": 0.6, "engagement": 0.4},
                        reasons=["评论重复率偏高"] if rank == 2 else [],
                        method_version="test-1",
                    )
                )
        s.add(
            AlertRow(
                workspace_id=watch.workspace_id,
                watch_id=watch.id,
                kind="spike",
                level=3,
                key="k1",
                title="瑞幸 提及量激增 <spike>",
                created_at=now - timedelta(hours=1),
            )
        )
    return ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    db = Database(f"sqlite:///{Path(tmp_path_factory.mktemp('botdb')) / 'bot.db'}")
    db.create_all()
    ids = seed(db, datetime.now(UTC))
    async with FakeTelegram() as fake:
        settings = Settings(bot=BotSettings(api_base=fake.base_url, rate_limit_per_minute=5))
        secrets = Secrets({"KOLWATCH_BOT_TOKEN": TOKEN})
        retry = RetryAfterMiddleware(max_retries=2, max_wait=5)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_polling(
                settings,
                secrets,
                db,
                stop,
                polling_timeout=1,
                bot=build_bot(settings, secrets, retry=retry),
                platforms=frozenset({"weibo", "bilibili"}),
            )
        )
        await fake.wait_for("getUpdates")
        try:
            yield Env(fake, db, ids, retry)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)  # a clean stop, not a hang
            db.dispose()


# --------------------------------------------------------------------------- helpers


async def ask(
    env: Env, text: str, *, user: int, chat: int = CHAT, method: str = "sendMessage", count: int = 1
) -> list[Call]:
    before = len(env.fake.calls_of(method))
    await env.fake.push_text(text, chat_id=chat, user_id=user, chat_type="supergroup")
    calls = await env.fake.wait_for(method, before + count)
    return calls[before : before + count]


async def press(
    env: Env, data: str, *, user: int, message_id: int, chat: int = CHAT, method: str = "answerCallbackQuery"
) -> Call:
    before = len(env.fake.calls_of(method))
    await env.fake.push_callback(data, message_id=message_id, chat_id=chat, user_id=user)
    return (await env.fake.wait_for(method, before + 1))[before]


def visible(call: Call, key: str = "text") -> str:
    text, error = parse_html(str(call.params[key]))
    assert error is None, error
    return text


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def last_message_id(env: Env, chat: int = CHAT) -> int:
    return max(mid for (c, mid) in env.fake._messages if c == str(chat))


def db_read(env: Env, fn: Any) -> Any:
    with env.db.read() as s:
        return fn(s)


@dataclass(frozen=True)
class DigestReply:
    texts: list[Call]  # the digest's text messages, in order
    photos: list[Call]  # sendPhoto / sendMediaGroup calls (the charts)
    files: list[tuple[str, bytes]]  # the documents: (file name, content)


async def ask_digest(env: Env, period: str, *, user: int) -> DigestReply:
    """/digest <period> in the chat, and everything the bot sent for it (the documents come last)."""

    methods = ("sendMessage", "sendDocument", "sendPhoto", "sendMediaGroup")
    before = {m: len(env.fake.calls_of(m)) for m in methods}
    await env.fake.push_text(f"/digest {period}", chat_id=CHAT, user_id=user, chat_type="supergroup")
    docs = (await env.fake.wait_for("sendDocument", before["sendDocument"] + 2, timeout=60))[
        before["sendDocument"] :
    ]
    new = {m: env.fake.calls_of(m)[before[m] :] for m in methods}
    return DigestReply(
        texts=new["sendMessage"],
        photos=new["sendPhoto"] + new["sendMediaGroup"],
        files=[next(iter(d.files.values())) for d in docs],
    )


# --------------------------------------------------------------------------- start-up, help


async def test_start_registers_command_menu_in_chinese_and_english(env: Env) -> None:
    menus = env.fake.calls_of("setMyCommands")
    assert len(menus) == 2
    default, zh = menus
    assert "language_code" not in default.params and zh.params["language_code"] == "zh"
    names = [c["command"] for c in default.params["commands"]]
    for cmd in (
        "start",
        "help",
        "watch",
        "mentions",
        "sentiment",
        "trending",
        "kol",
        "sov",
        "digest",
        "alerts",
        "sources",
        "feedback",
        "export",
    ):
        assert cmd in names
    assert any("提及" in c["description"] for c in zh.params["commands"])
    assert all(c["description"].isascii() for c in default.params["commands"])


async def test_help_lists_commands_in_both_languages(env: Env) -> None:
    (call,) = await ask(env, "/start", user=member())
    text = visible(call)
    assert call.params["chat_id"] == str(CHAT) and call.params["parse_mode"] == "HTML"
    assert "/mentions" in text and "最新提及" in text and "Latest mentions" in text and "acme" in text


async def test_help_reply_lists_every_command_in_chinese_and_english(env: Env) -> None:
    from bot.routers.start import COMMANDS

    (call,) = await ask(env, "/help", user=member())
    text = visible(call)
    assert call.params["parse_mode"] == "HTML" and "acme" in text
    for _name, zh, en, usage in COMMANDS:
        assert usage in text and f"{zh} · {en}" in text, usage
    assert "periods: 1h..90d" in text and "时间段" in text
    assert "admins can also ignore" in text and "You are an admin" not in text
    (call,) = await ask(env, "/help", user=admin())
    assert "你是管理员" in visible(call) and "You are an admin" in visible(call)


async def test_unknown_command_is_answered_with_help(env: Env) -> None:
    (call,) = await ask(env, "/frobnicate now", user=member())
    text = visible(call)
    assert "未知命令" in text and "/frobnicate" in text and "/sentiment" in text


# --------------------------------------------------------------------------- access control


async def test_foreign_chat_gets_one_polite_refusal_and_nothing_else(env: Env) -> None:
    (call,) = await ask(env, "/mentions 瑞幸", user=member(), chat=FOREIGN_CHAT)
    assert call.params["text"] == REFUSAL_TEXT
    # A second command from the same chat gets nothing: prove it by answering a known chat after it.
    await env.fake.push_text("/help", chat_id=FOREIGN_CHAT, user_id=member(), chat_type="supergroup")
    await ask(env, "/help", user=member())
    await asyncio.sleep(0.2)
    foreign = [c for c in env.fake.calls if c.params.get("chat_id") == str(FOREIGN_CHAT)]
    assert len(foreign) == 1
    assert "瑞幸" not in foreign[0].params["text"]  # nothing about any workspace leaks


async def test_chat_sees_only_its_own_workspace(env: Env) -> None:
    (call,) = await ask(env, "/mentions 瑞幸", user=member(), chat=OTHER_CHAT)
    text = visible(call)
    assert "no watch named '瑞幸'" in text
    (call,) = await ask(env, "/sources", user=member())
    text = visible(call)
    assert "secret-other-source" not in text and "weibo/search" in text


async def test_forged_feedback_for_another_workspace_post_is_refused(env: Env) -> None:
    user = member()
    call = await press(env, f"fl:{env.ids['other_post']}:positive", user=user, message_id=1)
    assert call.params.get("show_alert") in ("true", True)
    assert "not found" in call.params["text"]
    rows = db_read(
        env, lambda s: s.exec(select(SentimentFeedbackRow).where(SentimentFeedbackRow.user_id == user)).all()
    )
    assert rows == []


# --------------------------------------------------------------------------- watches


async def test_watch_changes_need_an_admin(env: Env) -> None:
    (call,) = await ask(env, "/watch add 新品 瑞幸 新品", user=member())
    assert "Only workspace admins" in visible(call)
    assert db_read(env, lambda s: s.exec(select(WatchRow).where(WatchRow.name == "新品")).first()) is None


async def test_watch_add_with_bad_query_points_at_the_mistake(env: Env) -> None:
    (call,) = await ask(env, "/watch add 新品 瑞幸 AND (新品 OR", user=admin())
    raw, text = call.params["text"], visible(call)
    assert "query error" in text and "<pre>" in raw
    caret_lines = text.split("\n")[-2:]
    assert caret_lines[0].strip().startswith("瑞幸 AND (新品 OR") and caret_lines[1].strip() == "^"
    (call,) = await ask(env, "/watch add 新品 瑞幸 platform:weibp", user=admin())
    assert "weibp" in visible(call) and "bilibili" in visible(call)  # the platforms it knows
    (call,) = await ask(env, "/watch add 新品 NOT 瑞幸", user=admin())
    assert "term that must appear" in visible(call)
    assert db_read(env, lambda s: s.exec(select(WatchRow).where(WatchRow.name == "新品")).first()) is None


async def test_watch_add_show_edit_remove_list(env: Env) -> None:
    who = admin()
    (call,) = await ask(env, '/watch add 新品 瑞幸 AND "生椰拿铁"', user=who)
    assert "已添加" in visible(call) and '瑞幸 AND "生椰拿铁"' in visible(call)
    (call,) = await ask(env, "/watch show 新品", user=member())
    assert '瑞幸 AND "生椰拿铁"' in visible(call)
    (call,) = await ask(env, "/watch edit 新品 瑞幸 NEAR/5 新品", user=who)
    assert "瑞幸 NEAR/5 新品" in visible(call)
    (call,) = await ask(env, "/watch add 新品 x", user=who)
    assert "already exists" in visible(call)
    (call,) = await ask(env, "/watch list", user=member())
    assert "新品" in visible(call) and "瑞幸 OR luckin" in visible(call)
    (call,) = await ask(env, "/watch remove 新品", user=who)
    assert "removed" in visible(call)
    (call,) = await ask(env, "/watch show 新品", user=member())
    assert "no watch named" in visible(call)
    row = db_read(env, lambda s: s.exec(select(WatchRow).where(WatchRow.name == "新品")).scalars().one())
    assert row.enabled is False and row.query == "瑞幸 NEAR/5 新品"


async def test_long_answer_is_split_at_4096(env: Env) -> None:
    before = len(env.fake.calls_of("sendMessage"))
    await env.fake.push_text("/watch list", chat_id=OTHER_CHAT, user_id=member(), chat_type="supergroup")
    await env.fake.wait_for("sendMessage", before + 2)
    await asyncio.sleep(0.3)
    parts = [c for c in env.fake.calls_of("sendMessage")[before:] if c.params["chat_id"] == str(OTHER_CHAT)]
    assert len(parts) >= 2
    texts = [visible(p) for p in parts]
    assert all(len(t) <= 4096 for t in texts)
    joined = "\n".join(texts)
    for i in range(60):
        assert joined.count(f"w{i:02d}:") == 1  # every watch once, none cut in half


# --------------------------------------------------------------------------- mentions, pagination, escaping


async def test_mentions_page_escapes_hostile_text_and_paginates(env: Env) -> None:
    user = member()
    (call,) = await ask(env, "/mentions 瑞幸 24h", user=user)
    raw, text = call.params["text"], visible(call)
    assert "12 条" in text and "第 1/3 页" in text
    assert "星巴克" not in text  # competitor mentions are not the brand's
    data = [b["callback_data"] for b in buttons(call)]
    assert all(len(d.encode()) <= 64 for d in data)
    assert sum(d.startswith("fb:") for d in data) == 5 and sum(d.startswith("ig:") for d in data) == 5
    (nxt,) = [d for d in data if d.startswith("mp:")]
    message_id = last_message_id(env)

    before = len(env.fake.calls_of("editMessageText"))
    await press(env, nxt, user=user, message_id=message_id)
    (edit,) = (await env.fake.wait_for("editMessageText", before + 1))[before:]
    page2 = visible(edit)
    assert "第 2/3 页" in page2
    nav = [b for b in buttons(edit) if b["callback_data"].startswith("mp:")]
    assert [b["text"] for b in nav] == ["◀ 上一页 prev", "下一页 next ▶"]
    # the hostile post is the 6th newest: on page 2, shown as text, never as markup
    assert '<script>alert("x")</script> AT&T' in page2 and HOSTILE_AUTHOR in page2
    assert "&lt;script&gt;" in edit.params["text"] and "AT&amp;T" in edit.params["text"]
    assert "<script>" not in edit.params["text"] and "<i>Evil" not in edit.params["text"]

    await press(env, nav[1]["callback_data"], user=user, message_id=message_id)
    (edit3,) = (await env.fake.wait_for("editMessageText", before + 2))[before + 1 :]
    assert "第 3/3 页" in visible(edit3)
    assert [b["text"] for b in buttons(edit3) if b["callback_data"].startswith("mp:")] == ["◀ 上一页 prev"]
    assert "<script>" not in raw


async def test_forged_page_button_is_refused(env: Env) -> None:
    user = member()
    other = env.ids["other_watch"]
    call = await press(env, f"mp:{other}:1:zz:0", user=user, message_id=1)
    assert "no longer exists" in call.params["text"] or "no longer valid" in call.params["text"]
    call = await press(env, "mp:1:x:y", user=user, message_id=1)
    assert "no longer valid" in call.params["text"]


async def test_bad_arguments_get_a_clear_message(env: Env) -> None:
    (call,) = await ask(env, "/mentions 瑞幸 400d", user=member())
    assert "between 1h and 90d" in visible(call)
    (call,) = await ask(env, "/mentions 没有这个", user=member())
    assert "no watch named '没有这个'" in visible(call) and "瑞幸" in visible(call)
    (call,) = await ask(env, "/mentions a b c", user=member())
    assert "too many arguments" in visible(call)


# --------------------------------------------------------------------------- feedback buttons


async def test_feedback_wrong_sentiment_then_label_is_stored(env: Env) -> None:
    user = member()
    (call,) = await ask(env, "/mentions", user=user)
    fb = next(b["callback_data"] for b in buttons(call) if b["callback_data"].startswith("fb:"))
    post_pk = int(fb.split(":")[1])
    before = len(env.fake.calls_of("sendMessage"))
    await press(env, fb, user=user, message_id=last_message_id(env))
    (choice,) = (await env.fake.wait_for("sendMessage", before + 1))[before:]
    labels = [b["callback_data"] for b in buttons(choice)]
    assert labels == [f"fl:{post_pk}:negative", f"fl:{post_pk}:neutral", f"fl:{post_pk}:positive"]
    edits = len(env.fake.calls_of("editMessageText"))
    await press(env, labels[2], user=user, message_id=last_message_id(env))
    (done,) = (await env.fake.wait_for("editMessageText", edits + 1))[edits:]
    assert "已记录" in visible(done) and "positive" in visible(done)
    rows = db_read(
        env,
        lambda s: (
            s.exec(select(SentimentFeedbackRow).where(SentimentFeedbackRow.user_id == user)).scalars().all()
        ),
    )
    assert [(r.post_pk, r.label) for r in rows] == [(post_pk, "positive")]
    # a forged label is refused
    call = await press(env, f"fl:{post_pk}:sarcastic", user=user, message_id=1)
    assert "unknown label" in call.params["text"]


async def test_ignoring_authors_is_for_admins_only(env: Env) -> None:
    user = member()
    hostile, evil = env.ids["hostile_post"], env.ids["authors"][2]
    for data in (f"ig:{hostile}", f"ui:{evil}"):
        sent = len(env.fake.calls_of("sendMessage"))
        call = await press(env, data, user=user, message_id=1)
        assert "only workspace admins can ignore" in call.params["text"]
        assert "情感有误" in call.params["text"] and call.params.get("show_alert") in ("true", True)
        await asyncio.sleep(0.2)
        assert len(env.fake.calls_of("sendMessage")) == sent  # no "ignored" note
    assert db_read(env, lambda s: s.exec(select(IgnoredAuthorRow)).scalars().all()) == []
    # The same member may still say the sentiment is wrong.
    sent = len(env.fake.calls_of("sendMessage"))
    await press(env, f"fb:{hostile}", user=user, message_id=1)
    (choice,) = (await env.fake.wait_for("sendMessage", sent + 1))[sent:]
    assert next(b["callback_data"] for b in buttons(choice)) == f"fl:{hostile}:negative"


async def test_ignore_author_hides_them_from_lists(env: Env) -> None:
    user = admin()
    hostile = env.ids["hostile_post"]
    sent = len(env.fake.calls_of("sendMessage"))
    call = await press(env, f"ig:{hostile}", user=user, message_id=1)
    assert "Evil&Co" in call.params["text"]
    (note,) = (await env.fake.wait_for("sendMessage", sent + 1))[sent:]
    assert "<i>Evil&Co</i> 以后不再出现" in visible(note)
    rows = db_read(env, lambda s: s.exec(select(IgnoredAuthorRow)).scalars().all())
    assert [r.author_pk for r in rows] == [env.ids["authors"][2]]
    (page,) = await ask(env, "/mentions 瑞幸 24h", user=user)
    assert "11 条" in visible(page)

    # The note carries an undo button; /ignored lists the author (escaped) with the same button.
    evil = env.ids["authors"][2]
    assert [b["callback_data"] for b in buttons(note)] == [f"ui:{evil}"]
    (listing,) = await ask(env, "/ignored", user=member())  # anyone may read the list
    assert "Evil&Co" in visible(listing) and "ignored authors (1)" in visible(listing)
    assert [b["callback_data"] for b in buttons(listing)] == [f"ui:{evil}"]
    call = await press(env, f"ui:{evil}", user=user, message_id=1)
    assert "restored" in call.params["text"]
    assert db_read(env, lambda s: s.exec(select(IgnoredAuthorRow)).scalars().all()) == []
    (page,) = await ask(env, "/mentions 瑞幸 24h", user=user)
    assert "12 条" in visible(page)
    (listing,) = await ask(env, "/ignored", user=user)
    assert "no ignored authors" in visible(listing)
    # Pressing it again, or a forged id, restores nothing and says so.
    for data in (f"ui:{evil}", "ui:999999"):
        call = await press(env, data, user=user, message_id=1)
        assert "not ignored here" in call.params["text"]
    call = await press(env, "ui:-3", user=user, message_id=1)
    assert "no longer valid" in call.params["text"]


async def test_ignored_list_pages_through_every_author(env: Env) -> None:
    with env.db.write() as s:
        workspace = s.get(WatchRow, env.ids["watch"]).workspace_id  # type: ignore[union-attr]
        start = datetime.now(UTC) - timedelta(days=1)
        for i in range(23):
            a = AuthorRow(platform="weibo", author_id=f"ign{i}", name=f"被忽略的作者_{i:02d}")
            s.add(a)
            s.flush()
            at = start + timedelta(minutes=i)
            s.add(IgnoredAuthorRow(workspace_id=workspace, author_pk=a.id, created_at=at))
    try:
        user = member()
        (first,) = await ask(env, "/ignored", user=user)
        text = visible(first)
        assert "ignored authors (23)" in text and "第 1/3 页" in text
        assert "被忽略的作者_22" in text and "被忽略的作者_13" in text and "被忽略的作者_12" not in text
        nav = [b for b in buttons(first) if b["callback_data"].startswith("ip:")]
        assert [b["text"] for b in nav] == ["下一页 next ▶"]
        assert sum(b["callback_data"].startswith("ui:") for b in buttons(first)) == 10
        seen = {line for line in text.splitlines() if "被忽略的作者_" in line}
        message_id = last_message_id(env)
        edits = len(env.fake.calls_of("editMessageText"))
        data = nav[0]["callback_data"]
        for page in (2, 3):
            await press(env, data, user=user, message_id=message_id)
            (edit,) = (await env.fake.wait_for("editMessageText", edits + 1))[edits:]
            edits += 1
            text = visible(edit)
            assert f"第 {page}/3 页" in text
            seen |= {line for line in text.splitlines() if "被忽略的作者_" in line}
            nav = [b for b in buttons(edit) if b["callback_data"].startswith("ip:")]
            data = nav[-1]["callback_data"]
        assert [b["text"] for b in nav] == ["◀ 上一页 prev"]
        assert len(seen) == 23  # every author once, none lost past a cap
        for forged in ("ip:-10", "ip:x", "ip:999999999"):
            call = await press(env, forged, user=user, message_id=message_id)
            assert "no longer valid" in call.params["text"]
    finally:
        with env.db.write() as s:
            for row in s.exec(select(IgnoredAuthorRow)).scalars().all():
                s.delete(row)


# --------------------------------------------------------------------------- read commands


async def test_sentiment_shows_shares_trend_and_negative_posts(env: Env) -> None:
    (call,) = await ask(env, "/sentiment 瑞幸 24h", user=member())
    text = visible(call)
    assert "情感 sentiment" in text and "负面 negative" in text and "%" in text
    assert "trend" in text and "top negative posts" in text
    assert any(b["callback_data"].startswith("fb:") for b in buttons(call))


async def test_trending_lists_new_terms_without_the_brand_itself(env: Env) -> None:
    (call,) = await ask(env, "/trending 瑞幸 24h", user=member())
    text = visible(call)
    assert "生椰拿铁" in text and "新品" in text
    assert "1. 瑞幸" not in text


async def test_kol_board_and_explain(env: Env) -> None:
    (call,) = await ask(env, "/kol", user=member())
    text = visible(call)
    assert "咖啡博主" in text and "上升 rising" in text and "80.0" in text and "近 7d 变化" in text
    (call,) = await ask(env, "/kol weibo", user=member())
    assert "· weibo" in visible(call)
    (call,) = await ask(env, "/kol 1d", user=member())  # no ranking from about a day ago
    text = visible(call)
    assert "没有约 1d 前的排名可比" in text and "上升 rising" not in text
    (call,) = await ask(env, "/kol explain 咖啡博主", user=member())
    text = visible(call)
    assert "rank 1/3" in text and "权重 0.600" in text
    (call,) = await ask(env, "/kol explain 不存在的人", user=member())
    assert "no scored author" in visible(call)
    # The period argument's bad input: out of range, or a second period where a watch goes.
    (call,) = await ask(env, "/kol 400d", user=member())
    assert "between 1h and 90d" in visible(call)
    (call,) = await ask(env, "/kol 瑞幸 7d 1d", user=member())
    assert "usage: /kol" in visible(call)


async def test_sov_compares_with_competitors(env: Env) -> None:
    (call,) = await ask(env, "/sov 瑞幸 24h", user=member())
    text = visible(call)
    assert "星巴克" in text and "*瑞幸" in text and "total 15" in text


async def test_sources_health_table(env: Env) -> None:
    (call,) = await ask(env, "/sources", user=member())
    text = visible(call)
    assert "rss/feed" in text and "https://example.org/feed?a=1&b=<2>" in text


async def test_export_sends_csv_document(env: Env) -> None:
    (call,) = await ask(env, "/export 瑞幸 7d", user=member(), method="sendDocument")
    (filename, data) = next(iter(call.files.values()))
    assert filename.endswith(".csv") and filename.isascii()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["watch", "competitor", "platform"]
    assert len(rows) == 1 + 19  # 16 brand (incl. ignored author: an export is a record) + 3 competitor
    texts = [r[-1] for r in rows[1:]]
    assert HOSTILE_TEXT in texts
    assert "19 条" in visible(call, "caption")


async def test_digest_sends_text_charts_and_html(env: Env) -> None:
    reply = await ask_digest(env, "day", user=member())
    assert sorted(name for name, _ in reply.files) == ["digest.html", "mentions.csv"]
    assert b"<script>alert" not in dict(reply.files)["digest.html"]
    assert any("瑞幸" in visible(c) for c in reply.texts)
    assert reply.photos, "charts were not sent"


async def test_digest_posts_carry_feedback_buttons(env: Env) -> None:
    user = member()
    texts = (await ask_digest(env, "day", user=user)).texts  # the digest's text, in parts
    assert texts and "舆情日报" in texts[0].params["text"]
    *first, last = texts
    assert all(not buttons(c) for c in first)  # the buttons sit under the end of the list
    rows = last.params["reply_markup"]["inline_keyboard"]
    text = "\n".join(visible(c) for c in texts)
    footnotes = sorted({int(n) for n in re.findall(r"\[(\d+)\]", text.split("🔗")[0])})
    links = re.findall(r"🔗 \[(\d+)\]", text)
    assert footnotes and [int(n) for n in links] == footnotes == list(range(1, len(footnotes) + 1))
    assert len(rows) == len(footnotes)  # one row per post the digest points at
    since = datetime.now(UTC) - timedelta(days=1, minutes=10)
    known = set(
        db_read(
            env,
            lambda s: (
                s.exec(
                    select(MentionRow.post_pk).where(
                        MentionRow.watch_id == env.ids["watch"], MentionRow.created_at >= since
                    )
                )
                .scalars()
                .all()
            ),
        )
    )
    for n, row in enumerate(rows, 1):
        assert [b["text"] for b in row] == [f"[{n}] 情感有误 wrong", f"[{n}] 忽略作者 ignore"]
        fb, ig = (b["callback_data"] for b in row)
        assert fb.startswith("fb:") and ig == "ig:" + fb[3:] and len(fb.encode()) <= 64
        assert int(fb[3:]) in known  # a post the watch mentioned in the digest's day
    # The button works like the one under /mentions.
    sent = len(env.fake.calls_of("sendMessage"))
    await press(env, rows[0][0]["callback_data"], user=user, message_id=last_message_id(env))
    (choice,) = (await env.fake.wait_for("sendMessage", sent + 1))[sent:]
    pk = rows[0][0]["callback_data"][3:]
    assert next(b["callback_data"] for b in buttons(choice)).startswith(f"fl:{pk}:")


async def test_alert_notice_posts_carry_feedback_buttons(env: Env) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.notifiers.telegram import TelegramNotifier
    from kolwatch.outbox import alert_notice

    hostile, first = env.ids["hostile_post"], env.ids["posts"][0]
    alert = AlertRow(
        workspace_id=1,
        kind="spike",
        level=3,
        key="k-buttons",
        title="瑞幸 提及量激增",
        body="代表帖子：\n1. 路人：第一条\n2. 坏人：第二条",
        post_urls=["https://weibo.example/p0", "https://weibo.example/p5"],
        post_ids=[first, hostile],
    )
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(env.fake.base_url)))
    try:
        before = len(env.fake.calls_of("sendMessage"))
        result = await TelegramNotifier(bot).send(alert_notice(alert), str(CHAT))
    finally:
        await bot.session.close()
    assert result.ok, result.message
    (call,) = env.fake.calls_of("sendMessage")[before:]
    rows = call.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in rows] == [
        [f"fb:{first}", f"ig:{first}"],
        [f"fb:{hostile}", f"ig:{hostile}"],
    ]
    assert [row[0]["text"] for row in rows] == ["帖子 1 情感有误 wrong", "帖子 2 情感有误 wrong"]
    # Pressed in the chat, they reach the bot's feedback handlers (and their rules).
    user = member()
    sent = len(env.fake.calls_of("sendMessage"))
    await press(env, f"fb:{hostile}", user=user, message_id=last_message_id(env))
    (choice,) = (await env.fake.wait_for("sendMessage", sent + 1))[sent:]
    assert next(b["callback_data"] for b in buttons(choice)) == f"fl:{hostile}:negative"
    call = await press(env, f"ig:{hostile}", user=user, message_id=last_message_id(env))
    assert "only workspace admins" in call.params["text"]


async def test_digest_week_covers_seven_days(env: Env) -> None:
    reply = await ask_digest(env, "week", user=member())
    files = dict(reply.files)
    assert sorted(name for name, _ in reply.files) == ["digest.html", "mentions.csv"]
    page = files["digest.html"].decode("utf-8")
    assert "acme 舆情周报" in page and "<script>alert" not in page
    texts = [visible(c) for c in reply.texts]
    head = next(t for t in texts if "舆情周报" in t)
    start, end = (
        datetime.strptime(part.strip()[:16], "%Y-%m-%d %H:%M")
        for part in head.split("时段: ")[1].split("（")[0].split("~")
    )
    assert end - start == timedelta(days=7)
    # The week holds the posts of the day before too: 16 brand mentions, 3 competitor ones.
    rows = list(csv.reader(io.StringIO(files["mentions.csv"].decode("utf-8-sig"))))
    assert len(rows) == 1 + 19


# --------------------------------------------------------------------------- alerts


async def test_alerts_overview_and_admin_changes(env: Env) -> None:
    (call,) = await ask(env, "/alerts", user=member())
    text = visible(call)
    assert "subscribed: 是 yes" in text and "瑞幸 提及量激增 <spike>" in text
    (call,) = await ask(env, "/alerts level 3", user=member())
    assert "Only workspace admins" in visible(call)
    who = admin()
    (call,) = await ask(env, "/alerts level 3", user=who)
    assert "minimum level: 3" in visible(call)
    (call,) = await ask(env, "/alerts mute 2h", user=who)
    assert "至 until" in visible(call)
    (call,) = await ask(env, "/alerts level 9", user=who)
    assert "level must be 1..4" in visible(call)
    (call,) = await ask(env, "/alerts mute forever", user=who)
    assert "not a period" in visible(call)
    chat = db_read(
        env,
        lambda s: s.exec(select(WorkspaceChatRow).where(WorkspaceChatRow.chat_id == CHAT)).scalars().one(),
    )
    assert chat.min_level == 3 and chat.muted_until is not None
    # buttons: a member is refused, an admin unsubscribes and unmutes
    call = await press(env, "al:sub:0", user=member(), message_id=last_message_id(env))
    assert "Only workspace admins" in call.params["text"]
    edits = len(env.fake.calls_of("editMessageText"))
    await press(env, "al:sub:0", user=who, message_id=last_message_id(env))
    await press(env, "al:mute:0", user=who, message_id=last_message_id(env))
    await env.fake.wait_for("editMessageText", edits + 2)
    chat = db_read(
        env,
        lambda s: s.exec(select(WorkspaceChatRow).where(WorkspaceChatRow.chat_id == CHAT)).scalars().one(),
    )
    assert chat.subscribed is False and chat.muted_until is None
    await press(env, "al:sub:1", user=who, message_id=last_message_id(env))


async def test_alerts_on_off_as_typed_commands(env: Env) -> None:
    def subscribed() -> bool:
        return bool(
            db_read(
                env,
                lambda s: (
                    s.exec(select(WorkspaceChatRow).where(WorkspaceChatRow.chat_id == CHAT))
                    .scalars()
                    .one()
                    .subscribed
                ),
            )
        )

    assert subscribed()
    (call,) = await ask(env, "/alerts off", user=member())
    assert "Only workspace admins" in visible(call) and subscribed()
    who = admin()
    (call,) = await ask(env, "/alerts off", user=who)
    assert "subscribed: 否 no" in visible(call) and not subscribed()
    assert "🔔 订阅 subscribe" in [b["text"] for b in buttons(call)]
    (call,) = await ask(env, "/alerts on", user=member())
    assert "Only workspace admins" in visible(call) and not subscribed()
    (call,) = await ask(env, "/alerts on", user=who)
    assert "subscribed: 是 yes" in visible(call) and subscribed()
    (call,) = await ask(env, "/alerts maybe", user=who)
    assert "usage: /alerts" in visible(call)


# --------------------------------------------------------------------------- limits


async def test_429_with_retry_after_is_waited_out(env: Env) -> None:
    env.fake.fail_next("sendMessage", 429, retry_after=1)
    waited = len(env.retry.waited)
    calls = await ask(env, "/feedback", user=member(), count=2)
    assert calls[0].params["text"] == calls[1].params["text"]  # the same message, sent again
    assert env.retry.waited[waited:] == [1.0]


async def test_rate_limit_on_expensive_commands(env: Env) -> None:
    user = member()
    await ask(env, "/sources", user=user)  # cheap commands do not count
    before = len(env.fake.calls_of("sendMessage"))
    for _ in range(7):
        await env.fake.push_text("/sov", chat_id=CHAT, user_id=user, chat_type="supergroup")
    await env.fake.wait_for("sendMessage", before + 6)
    await asyncio.sleep(0.3)
    new = [visible(c) for c in env.fake.calls_of("sendMessage")[before:]]
    assert sum("share of voice" in t for t in new) == 5
    assert sum("Too many requests" in t for t in new) == 1  # one warning, then silence
    assert len(new) == 6
    (call,) = await ask(env, "/sources", user=user)  # not expensive: still answered
    assert "sources" in visible(call)
    (call,) = await ask(env, "/sov", user=member())  # another user is not limited
    assert "share of voice" in visible(call)
