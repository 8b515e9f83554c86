"""/sentiment [watch] [period]: label shares, change of the negative share, a trend per day (or
hour for periods up to two days), and the most engaging negative posts with feedback buttons."""

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
    LABEL_ZH,
    bar,
    command_args,
    feedback_rows,
    keyboard,
    local_time,
    pct,
    period_label,
    pick_watch,
    read,
    render_post,
    require_access,
    send_html,
    watch_and_period,
    window,
)
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE
from storage import queries
from storage.bot_repo import ChatAccess
from storage.db import Database

DEFAULT_PERIOD = timedelta(days=7)
TOP_NEGATIVE = 3


def _load(
    session: Session, *, workspace_id: int, name: str | None, period: timedelta, tz: str
) -> tuple[queries.WatchRef, queries.SentimentSummary]:
    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    start, end = window(period)
    step: queries.Step = "hour" if period <= timedelta(hours=48) else "day"
    summary = queries.sentiment_summary(
        session, watch_id=watch.id, start=start, end=end, step=step, tz=tz, top_negative=TOP_NEGATIVE
    )
    return watch, summary


def render_sentiment(watch: queries.WatchRef, s: queries.SentimentSummary, period: str, tz: str) -> str:
    lines = [render.bold(f"{watch.name} · 情感 sentiment · {period}")]
    if s.total == 0:
        lines.append(render.escape("这段时间没有提及。No mentions in this period."))
        return "\n".join(lines)
    lines.append(render.escape(f"共 {s.total} 条，已评分 {s.scored} total {s.total}, scored {s.scored}"))
    for label in (POSITIVE, NEUTRAL, NEGATIVE):
        share = s.share(label)
        n = {POSITIVE: s.positive, NEUTRAL: s.neutral, NEGATIVE: s.negative}[label]
        lines.append(render.code(f"{LABEL_ZH[label]} {label:<8} {bar(share or 0)} {pct(share):>4} ({n})"))
    now_neg, before = s.share(NEGATIVE), s.previous_negative_share
    if now_neg is not None and before is not None:
        delta = (now_neg - before) * 100
        lines.append(render.escape(f"负面占比较上期 negative share vs previous period: {delta:+.0f} pp"))
    points = [p for p in s.trend if p.scored]
    if points:
        lines.append("")
        lines.append(render.bold("趋势 trend (负面占比 negative share)"))
        fmt = (
            "%m-%d %H:00"
            if len(s.trend) > 1 and s.trend[1].start - s.trend[0].start < timedelta(days=1)
            else "%m-%d"
        )
        rows = [
            f"{local_time(p.start, tz, fmt)} {bar(p.share(NEGATIVE) or 0, 8)} "
            f"{pct(p.share(NEGATIVE)):>4} /{p.scored}"
            for p in points[-24:]
        ]
        lines.append(render.pre("\n".join(rows)))
    if s.top_negative:
        lines.append(render.bold("最受关注的负面帖 top negative posts"))
        for i, item in enumerate(s.top_negative, 1):
            lines.append(render_post(item, i, tz))
    return "\n".join(lines)


def make_router() -> Router:
    router = Router(name="sentiment")
    router.message.filter(KnownChat())

    @router.message(Command("sentiment"), flags={EXPENSIVE: True})
    async def cmd_sentiment(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        name, period = watch_and_period(command_args(message), DEFAULT_PERIOD)
        watch, summary = await read(
            db, _load, workspace_id=acc.workspace_id, name=name, period=period, tz=acc.timezone
        )
        await send_html(
            message,
            render_sentiment(watch, summary, period_label(period), acc.timezone),
            keyboard(feedback_rows(summary.top_negative)),
        )

    return router
