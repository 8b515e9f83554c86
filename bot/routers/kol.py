"""/kol [watch] [platform] [period]: the latest KOL ranking (top), and over the period (default
7d) who rose, who is new and who turned negative (definitions: `scoring.report`, shared with the
digests and `kolwatch kol rank`); /kol explain <author> [watch]: one author's score broken into
components × weights."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlmodel import Session

from bot import render
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.routers.common import (
    command_args,
    count,
    local_time,
    parse_period,
    period_label,
    pick_watch,
    read,
    require_access,
    send_html,
)
from scoring.report import COMPONENT_LABELS, DEFAULT_PERIOD
from storage import queries
from storage.bot_repo import BotRepoError, ChatAccess
from storage.db import Database

PLATFORMS = frozenset({"weibo", "bilibili", "rss", "mastodon", "webpage", "hotlist"})
TOP = 10


def _board(
    session: Session, *, workspace_id: int, name: str | None, platform: str | None, period: timedelta
) -> tuple[queries.WatchRef, queries.KolBoard]:
    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    return watch, queries.kol_board(session, watch_id=watch.id, top=TOP, platform=platform, period=period)


def _explain(
    session: Session, *, workspace_id: int, name: str | None, author: str
) -> tuple[queries.WatchRef, queries.AuthorScore | None]:
    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    return watch, queries.author_score(session, watch_id=watch.id, author=author)


def _who(e: queries.KolEntry) -> str:
    name = e.name or e.author_id
    return render.link(name, e.url) if e.url else render.bold(name)


def render_board(watch: queries.WatchRef, board: queries.KolBoard, platform: str | None, tz: str) -> str:
    scope = f" · {platform}" if platform else ""
    head = render.bold(f"{watch.name} · KOL{scope}")
    if board.computed_at is None:
        empty = "还没有 KOL 评分（每小时计算一次）。No KOL scores yet (computed hourly)."
        return f"{head}\n{render.escape(empty)}"
    lines = [f"{head} · {render.escape('计算于 computed ' + local_time(board.computed_at, tz))}"]
    if not board.top:
        lines.append(render.escape("此平台没有评分作者。No scored authors on this platform."))
    for i, e in enumerate(board.top, 1):
        delta = "" if e.delta is None else f" ({e.delta:+.1f})"
        lines.append(
            f"{i}. {_who(e)} {render.escape(f'· {e.platform} · {e.tier} · 粉丝 {count(e.followers)}')}"
            f" · {render.bold(f'{e.score:.1f}')}{render.escape(delta)}"
        )
    span = period_label(board.period)
    lines.append("")
    if board.previous_computed_at is None:
        lines.append(
            render.escape(
                f"近 {span} 变化：没有约 {span} 前的排名可比。No ranking from ~{span} ago to compare with."
            )
        )
    else:
        since = local_time(board.previous_computed_at, tz)
        lines.append(render.escape(f"近 {span} 变化 changes over {span}（对比 vs {since} 的排名）"))
    if board.rising:
        lines.append(render.bold("上升 rising"))
        for e in board.rising[:5]:
            lines.append(f"↑ {_who(e)} {render.escape(f'{(e.previous_score or 0):.1f} → {e.score:.1f}')}")
    if board.new:
        lines.append(render.bold("新上榜 new"))
        for e in board.new[:5]:
            lines.append(f"✦ {_who(e)} {render.escape(f'{e.score:.1f}')}")
    if board.previous_computed_at is not None and not (board.rising or board.new or board.turned_negative):
        lines.append(render.escape("没有明显变化 no notable changes"))
    if board.turned_negative:
        lines.append(render.bold(f"转为负面 turned negative（近 {span} vs 之前 {span} 的品牌帖情感）"))
        for t in board.turned_negative[:5]:
            lines.append(
                f"🔴 {_who(t.kol)} "
                + render.escape(
                    f"{t.earlier_sentiment:.2f} → {t.recent_sentiment:.2f} ({t.recent_posts} 条 posts)"
                )
            )
    lines.append(render.escape("\n/kol explain <作者 author> 查看得分构成 shows how a score is made"))
    return "\n".join(lines)


def render_explain(watch: queries.WatchRef, found: queries.AuthorScore, tz: str) -> str:
    e = found.latest
    lines = [
        f"{_who(e)} {render.escape(f'· {e.platform}:{e.author_id} · {e.tier} · 粉丝 {count(e.followers)}')}",
        render.escape(
            f"{watch.name}: 得分 score {e.score:.1f}/100 · 排名 rank {found.rank}/{found.ranked} · "
            f"真实度 authenticity {e.authenticity:.2f}"
        ),
    ]
    if e.delta is not None:
        lines.append(render.escape(f"较上次 vs previous: {e.delta:+.1f}"))
    if e.weights:
        rows = []
        for comp, weight in sorted(e.weights.items(), key=lambda kv: -float(kv[1])):
            label = COMPONENT_LABELS.get(comp, comp)
            value = e.components.get(comp)
            if value is not None:
                shown = f"{float(value) * 100:.0f}"
            elif e.method_version == "kolwatch-kol/1":  # that version renormalised over the rest
                shown = "缺失 missing"
            else:
                shown = "缺失 missing → 按中位数 50 median"
            rows.append(f"{label}: 百分位 {shown} × 权重 {float(weight):.3f}")
        lines.append(render.pre("\n".join(rows)))
    if e.reasons:
        lines.append(render.bold("说明 notes"))
        lines.extend(render.escape(f"- {r}") for r in e.reasons[:10])
    if len(found.history) > 1:
        trail = " → ".join(f"{v:.0f}" for _, v in found.history[-8:])
        lines.append(render.escape(f"历史 history: {trail}"))
    lines.append(render.escape(f"方法 method {e.method_version} · {local_time(e.computed_at, tz)}"))
    return "\n".join(lines)


def make_router() -> Router:
    router = Router(name="kol")
    router.message.filter(KnownChat())

    @router.message(Command("kol"), flags={EXPENSIVE: True})
    async def cmd_kol(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        args = command_args(message).split()
        if args and args[0].lower() == "explain":
            if len(args) < 2:
                raise BotRepoError("用法 usage: /kol explain <作者 author name or id> [监测 watch]")
            name = args[2] if len(args) > 2 else None
            watch, found = await read(db, _explain, workspace_id=acc.workspace_id, name=name, author=args[1])
            if found is None:
                raise BotRepoError(f"{watch.name}: 没有找到作者 no scored author matches {args[1][:40]!r}")
            await send_html(message, render_explain(watch, found, acc.timezone))
            return
        platform = None
        period = None
        rest = []
        for token in args:
            if token.lower() in PLATFORMS and platform is None:
                platform = token.lower()
            elif period is None and (parsed := parse_period(token)) is not None:
                period = parsed
            else:
                rest.append(token)
        if len(rest) > 1:
            raise BotRepoError("用法 usage: /kol [监测 watch] [平台 platform] [时间段 period, e.g. 7d]")
        watch, board = await read(
            db,
            _board,
            workspace_id=acc.workspace_id,
            name=rest[0] if rest else None,
            platform=platform,
            period=period or DEFAULT_PERIOD,
        )
        await send_html(message, render_board(watch, board, platform, acc.timezone))

    return router
