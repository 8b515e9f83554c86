"""/export [watch] [period]: every mention of the period (brand and competitors) as a CSV
document. Cells a spreadsheet would run as formulas are defused (bot.digest.csv_cell); UTF-8 with
a BOM so Excel shows Chinese; capped at MAX_ROWS so one command cannot build a 50 MB file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from sqlmodel import Session

from bot import render
from bot.digest import CSV_FIELDS, mention_csv_row
from bot.filters import KnownChat
from bot.middlewares import EXPENSIVE
from bot.routers.common import command_args, period_label, pick_watch, read, require_access, watch_and_period
from storage import queries
from storage.bot_repo import ChatAccess
from storage.db import Database

DEFAULT_PERIOD = timedelta(days=7)
MAX_ROWS = 100_000


def _export(
    session: Session, *, workspace_id: int, name: str | None, period: timedelta, tz: str
) -> tuple[queries.WatchRef, bytes, int, bool]:
    """(watch, CSV bytes, rows, truncated)."""

    watch = pick_watch(session, workspace_id=workspace_id, name=name)
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    zone = ZoneInfo(tz)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    rows, truncated = 0, False
    copies = queries.duplicate_origins(session, watch_id=watch.id, start=end - period, end=end)
    for m in queries.iter_mentions(session, watch_id=watch.id, start=end - period, end=end):
        if rows == MAX_ROWS:
            truncated = True
            break
        writer.writerow(mention_csv_row(watch.name, m, zone, copies.get(m.post_pk, "")))
        rows += 1
    return watch, ("\ufeff" + out.getvalue()).encode("utf-8"), rows, truncated


def file_name(watch: str, period: str, now: datetime) -> str:
    """ASCII-safe: the watch name may be Chinese or hostile; Telegram shows the caption anyway."""

    return f"mentions-{render.short_token(watch, 8)}-{period}-{now:%Y%m%d-%H%M}.csv"


def make_router() -> Router:
    router = Router(name="export")
    router.message.filter(KnownChat())

    @router.message(Command("export"), flags={EXPENSIVE: True})
    async def cmd_export(message: Message, access: ChatAccess | None, db: Database) -> None:
        acc = require_access(access)
        name, period = watch_and_period(command_args(message), DEFAULT_PERIOD)
        watch, data, rows, truncated = await read(
            db, _export, workspace_id=acc.workspace_id, name=name, period=period, tz=acc.timezone
        )
        label = period_label(period)
        caption = f"{render.bold(watch.name)} · {render.escape(f'{label} · {rows} 条 rows')}"
        if truncated:
            caption += render.escape(
                f" (只导出前 {MAX_ROWS} 条 first {MAX_ROWS} only; use `kolwatch export`)"
            )
        await message.answer_document(
            BufferedInputFile(data, filename=file_name(watch.name, label, datetime.now(UTC))),
            caption=render.truncate_html(caption),
        )

    return router
