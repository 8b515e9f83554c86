"""The digest job: build a workspace's daily/weekly digest, write its files, and put it in the outbox.

Idempotent per workspace and period: the digest is stored as an alert of kind "digest" whose key
names the period (`digest:week:2026-W11`), and the outbox's alert keys are unique per workspace,
so a second run (another worker, a restart, the cron firing twice) sends nothing twice and just
returns the files of the stored digest. Digests go to every subscribed, unmuted chat of the
workspace whatever its minimum alert level (a digest is reading the team asked for, not an
alarm), plus the workspace's webhook/console channels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.digest import (
    DigestData,
    DigestWindow,
    collect_digest,
    digest_window,
    render_digest,
    text_lines,
    title_of,
    write_files,
)
from kolwatch.outbox import alert_targets
from kolwatch.settings import Secrets, Settings
from storage import repos
from storage.db import Database

DIGEST_TARGET_LEVEL = 4  # the most severe level: passes every chat's min_level filter


def workspace_timezone(settings: Settings, workspace: str) -> str:
    for ws in settings.workspaces:
        if ws.name == workspace:
            return ws.timezone
    raise LookupError(f"no workspace named {workspace!r} in settings")


def digest_key(window: DigestWindow, watch: str | None = None) -> str:
    key = f"digest:{window.period}:{window.key}"
    return key if watch is None else f"{key}:{watch}"


def safe_dir_name(name: str) -> str:
    """A directory name from a workspace/watch name: no separators, no leading dots, bounded."""

    cleaned = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).lstrip(".")[:64]
    return cleaned or "_"


def digest_dir(out_dir: Path, workspace: str, window: DigestWindow, watch: str | None = None) -> Path:
    leaf = f"{window.period}-{window.key}" + ("" if watch is None else f"-{safe_dir_name(watch)}")
    return out_dir / safe_dir_name(workspace) / leaf


def _workspace_id(db: Database, workspace: str) -> int:
    with db.read() as session:
        ws_id = repos.workspace_ids(session).get(workspace)
    if ws_id is None:
        raise LookupError(f"workspace {workspace!r} is not in the database (run the service once to sync it)")
    return ws_id


def run_digest(
    db: Database,
    settings: Settings,
    secrets: Secrets,
    *,
    workspace: str,
    period: str,
    now: datetime,
    out_dir: Path,
    watch: str | None = None,
    send: bool = True,
) -> list[Path]:
    """Build, write and (with `send`) enqueue the digest of `workspace` for the period ending at
    `now`; returns the written files (HTML, CSV, PNG charts). LookupError for an unknown
    workspace or watch, ValueError for a bad period."""

    tz = workspace_timezone(settings, workspace)
    window = digest_window(period, now=now, tz=tz)
    key = digest_key(window, watch)
    ws_id = _workspace_id(db, workspace)
    if send:
        with db.read() as session:
            stored = repos.alert_by_key(session, workspace_id=ws_id, key=key)
        if stored is not None:
            return [Path(p) for p in stored.details.get("files", []) if Path(p).exists()]
    with db.read() as session:
        data = collect_digest(session, workspace_id=ws_id, window=window, watch=watch, generated_at=now)
        rendered = render_digest(session, data)
    paths = [p.resolve() for p in write_files(rendered, digest_dir(out_dir, workspace, window, watch))]
    if send:
        with db.write() as session:
            repos.enqueue_alert(
                session,
                alert=repos.AlertSpec(
                    workspace_id=ws_id,
                    kind="digest",
                    level=1,
                    key=key,
                    title=rendered.title,
                    body="\n".join(rendered.lines),
                    watch_id=data.watches[0].watch.id if watch is not None and data.watches else None,
                    post_urls=tuple(url for _, url in rendered.links),
                    details={
                        "files": [str(p) for p in paths],
                        "links": [list(pair) for pair in rendered.links],
                        "feedback": [list(pair) for pair in rendered.feedback],
                        "period": window.period,
                        "start": window.start.isoformat(),
                        "end": window.end.isoformat(),
                    },
                    created_at=now,
                ),
                targets=alert_targets(
                    session, settings, secrets, workspace_id=ws_id, level=DIGEST_TARGET_LEVEL
                ),
            )
    return paths


@dataclass(frozen=True)
class DigestSummary:
    """What `kolwatch demo` and `kolwatch digest` print: the title and the numbers per watch."""

    title: str
    window: str
    lines: tuple[str, ...]
    watches: tuple[tuple[str, int, float | None], ...]  # (watch, raw mentions, negative share)

    def text(self) -> str:
        return "\n".join([self.title, *self.lines])


def digest_summary(
    db: Database, settings: Settings, *, workspace: str, period: str, now: datetime, watch: str | None = None
) -> DigestSummary:
    tz = workspace_timezone(settings, workspace)
    window = digest_window(period, now=now, tz=tz)
    ws_id = _workspace_id(db, workspace)
    with db.read() as session:
        data: DigestData = collect_digest(
            session, workspace_id=ws_id, window=window, watch=watch, generated_at=now
        )
    return DigestSummary(
        title=title_of(data),
        window=window.label(),
        lines=text_lines(data).lines,
        watches=tuple(
            (wd.watch.name, wd.volume.raw_total, wd.sentiment.share("negative")) for wd in data.watches
        ),
    )


def summarize_digest(db: Database, settings: Settings, *, workspace: str, period: str, now: datetime) -> str:
    """The digest's numbers as printable text (the demo prints this)."""

    return digest_summary(db, settings, workspace=workspace, period=period, now=now).text()
