"""The writes (and the few access lookups) the Telegram bot needs: chat -> workspace and admin
status, watches added/edited/removed from chat, chat alert preferences, sentiment feedback and
ignored authors.

Every function takes a `Session` first and keyword arguments after and never commits (the caller's
`Database.write()`/`read()` block owns the transaction). Anything a chat can name - a watch, a post
- is looked up *inside the chat's workspace*, so forged callback data or a guessed id can never
reach another workspace's data: a foreign id reads as "not found".

Removing a watch disables it (its mentions and counters stay for history); adding a watch with
the name of a removed one enables it again with the new query. Note that `repos.sync_config`
re-enables watches that settings.toml names, at every start.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from nlp.matcher import check_query as check_matchable
from nlp.query import QuerySyntaxError, parse, phrase
from nlp.types import NEGATIVE, NEUTRAL, POSITIVE
from storage.models import (
    AuthorRow,
    IgnoredAuthorRow,
    MentionRow,
    PostRow,
    SentimentFeedbackRow,
    WatchRow,
    WorkspaceAdminRow,
    WorkspaceChatRow,
    WorkspaceRow,
)

MAX_WATCH_NAME = 64
MAX_COMPETITORS = 10
FEEDBACK_LABELS = (NEGATIVE, NEUTRAL, POSITIVE)
LEVEL_MIN, LEVEL_MAX = 1, 4  # nlp.trends.Level: 1 blue .. 4 red
_NAME_RE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f:/\\]{1,64}")


class BotRepoError(ValueError):
    """A request the bot must refuse with a message; `str(error)` is shown to the user."""


class NotFound(BotRepoError):
    pass


class AlreadyExists(BotRepoError):
    pass


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- access


@dataclass(frozen=True, slots=True)
class ChatAccess:
    """What one (chat, user) pair may see and do: the chat's workspace and the user's admin status."""

    workspace_id: int
    workspace: str
    timezone: str
    chat_id: int
    is_admin: bool
    subscribed: bool
    min_level: int
    muted_until: datetime | None


def chat_access(session: Session, *, chat_id: int, user_id: int | None) -> ChatAccess | None:
    """The workspace owning `chat_id` and whether `user_id` is one of its admins; None for unknown chats."""

    row = session.exec(
        select(WorkspaceChatRow, WorkspaceRow)
        .join(WorkspaceRow, col(WorkspaceRow.id) == col(WorkspaceChatRow.workspace_id))
        .where(WorkspaceChatRow.chat_id == chat_id)
    ).first()
    if row is None:
        return None
    chat, ws = row
    admin = False
    if user_id is not None:
        admin = (
            session.exec(
                select(WorkspaceAdminRow.id).where(
                    WorkspaceAdminRow.workspace_id == ws.id, WorkspaceAdminRow.user_id == user_id
                )
            ).first()
            is not None
        )
    return ChatAccess(
        workspace_id=ws.id or 0,
        workspace=ws.name,
        timezone=ws.timezone,
        chat_id=chat.chat_id,
        is_admin=admin,
        subscribed=chat.subscribed,
        min_level=chat.min_level,
        muted_until=_as_utc(chat.muted_until),
    )


def is_admin(session: Session, *, workspace_id: int, user_id: int) -> bool:
    return (
        session.exec(
            select(WorkspaceAdminRow.id).where(
                WorkspaceAdminRow.workspace_id == workspace_id, WorkspaceAdminRow.user_id == user_id
            )
        ).first()
        is not None
    )


# --------------------------------------------------------------------------- watches


@dataclass(frozen=True, slots=True)
class WatchView:
    id: int
    name: str
    query: str
    competitors: tuple[str, ...]
    enabled: bool
    updated_at: datetime


def _view(row: WatchRow) -> WatchView:
    return WatchView(
        id=row.id or 0,
        name=row.name,
        query=row.query,
        competitors=tuple(row.competitors),
        enabled=row.enabled,
        updated_at=_as_utc(row.updated_at) or datetime.now(UTC),
    )


def check_watch_name(name: str) -> str:
    """A watch name: 1-64 characters, no whitespace, controls, ':' or slashes (they delimit commands)."""

    name = name.strip()
    if not _NAME_RE.fullmatch(name):
        raise BotRepoError(
            f"名称无效 invalid watch name {name[:MAX_WATCH_NAME]!r}: 1-{MAX_WATCH_NAME} characters, "
            "no spaces, ':' or '/'"
        )
    return name


def check_query(query: str, platforms: Collection[str] | None = None) -> str:
    """The query itself if a watch can use it, as settings.toml's watches are checked:
    `nlp.query.QuerySyntaxError` (with position) when it does not parse or names a platform not
    in `platforms` (when given); BotRepoError when it could match without any of its terms."""

    query = query.strip()
    try:
        check_matchable(parse(query, platforms=platforms))
    except QuerySyntaxError:
        raise
    except ValueError as exc:
        raise BotRepoError(f"查询无效 invalid query {query[:80]!r}: {exc}") from None
    return query


def _check_competitors(competitors: tuple[str, ...]) -> list[str]:
    if len(competitors) > MAX_COMPETITORS:
        raise BotRepoError(f"最多 {MAX_COMPETITORS} 个竞品 at most {MAX_COMPETITORS} competitors")
    names = [check_watch_name(c) for c in competitors]
    for name in names:
        phrase(name)  # matched as one literal phrase: QuerySyntaxError if it cannot be one ('""')
    return names


def _watch_row(session: Session, workspace_id: int, name: str) -> WatchRow | None:
    return (
        session.exec(select(WatchRow).where(WatchRow.workspace_id == workspace_id, WatchRow.name == name))
        .scalars()
        .first()
    )


def list_watches(session: Session, *, workspace_id: int, include_disabled: bool = False) -> list[WatchView]:
    stmt = select(WatchRow).where(WatchRow.workspace_id == workspace_id)
    if not include_disabled:
        stmt = stmt.where(WatchRow.enabled)
    return [_view(r) for r in session.exec(stmt.order_by(WatchRow.id)).scalars()]


def get_watch(session: Session, *, workspace_id: int, name: str) -> WatchView:
    """An enabled watch of the workspace by name; NotFound otherwise."""

    row = _watch_row(session, workspace_id, name.strip())
    if row is None or not row.enabled:
        raise NotFound(f"没有这个监测 no watch named {name.strip()[:MAX_WATCH_NAME]!r}")
    return _view(row)


def add_watch(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    query: str,
    competitors: tuple[str, ...] = (),
    now: datetime | None = None,
    platforms: Collection[str] | None = None,
) -> WatchView:
    """Create a watch (or re-enable a removed one of that name). QuerySyntaxError for a bad query;
    `platforms`: the platform names `platform:` may use (see check_query)."""

    name = check_watch_name(name)
    query = check_query(query, platforms)
    comps = _check_competitors(competitors)
    now = now or datetime.now(UTC)
    row = _watch_row(session, workspace_id, name)
    if row is not None and row.enabled:
        raise AlreadyExists(f"已存在 a watch named {name!r} already exists (use /watch edit)")
    if row is None:
        row = WatchRow(workspace_id=workspace_id, name=name, query=query, competitors=comps)
        session.add(row)
    else:
        row.query, row.competitors, row.enabled, row.updated_at = query, comps, True, now
    session.flush()
    return _view(row)


def edit_watch(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    query: str,
    competitors: tuple[str, ...] | None = None,
    now: datetime | None = None,
    platforms: Collection[str] | None = None,
) -> WatchView:
    """Replace the query (and competitors when given) of an enabled watch."""

    name = check_watch_name(name)
    query = check_query(query, platforms)
    row = _watch_row(session, workspace_id, name)
    if row is None or not row.enabled:
        raise NotFound(f"没有这个监测 no watch named {name!r}")
    row.query = query
    if competitors is not None:
        row.competitors = _check_competitors(competitors)
    row.updated_at = now or datetime.now(UTC)
    session.flush()
    return _view(row)


def remove_watch(session: Session, *, workspace_id: int, name: str, now: datetime | None = None) -> WatchView:
    """Disable a watch; its history stays (and shows again if it is re-added)."""

    name = name.strip()
    row = _watch_row(session, workspace_id, name)
    if row is None or not row.enabled:
        raise NotFound(f"没有这个监测 no watch named {name[:MAX_WATCH_NAME]!r}")
    row.enabled = False
    row.updated_at = now or datetime.now(UTC)
    session.flush()
    return _view(row)


# --------------------------------------------------------------------------- alert preferences


def _chat_row(session: Session, workspace_id: int, chat_id: int) -> WorkspaceChatRow:
    row = (
        session.exec(
            select(WorkspaceChatRow).where(
                WorkspaceChatRow.chat_id == chat_id, WorkspaceChatRow.workspace_id == workspace_id
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound("这个聊天不属于该工作区 this chat does not belong to the workspace")
    return row


@dataclass(frozen=True, slots=True)
class AlertPrefs:
    subscribed: bool
    min_level: int
    muted_until: datetime | None


def _prefs(row: WorkspaceChatRow) -> AlertPrefs:
    return AlertPrefs(row.subscribed, row.min_level, _as_utc(row.muted_until))


def alert_prefs(session: Session, *, workspace_id: int, chat_id: int) -> AlertPrefs:
    return _prefs(_chat_row(session, workspace_id, chat_id))


def set_subscribed(session: Session, *, workspace_id: int, chat_id: int, subscribed: bool) -> AlertPrefs:
    row = _chat_row(session, workspace_id, chat_id)
    row.subscribed = subscribed
    session.flush()
    return _prefs(row)


def mute_chat(session: Session, *, workspace_id: int, chat_id: int, until: datetime | None) -> AlertPrefs:
    """Mute alerts until `until` (aware datetime); None unmutes."""

    if until is not None and until.tzinfo is None:
        raise ValueError("mute_chat needs an aware datetime")
    row = _chat_row(session, workspace_id, chat_id)
    row.muted_until = until.astimezone(UTC) if until is not None else None
    session.flush()
    return _prefs(row)


def set_min_level(session: Session, *, workspace_id: int, chat_id: int, level: int) -> AlertPrefs:
    if not LEVEL_MIN <= level <= LEVEL_MAX:
        raise BotRepoError(f"级别应为 {LEVEL_MIN}-{LEVEL_MAX} level must be {LEVEL_MIN}..{LEVEL_MAX}")
    row = _chat_row(session, workspace_id, chat_id)
    row.min_level = level
    session.flush()
    return _prefs(row)


# --------------------------------------------------------------------------- feedback, ignored authors


@dataclass(frozen=True, slots=True)
class PostRef:
    """A post the workspace can see, with its author, for feedback messages."""

    post_pk: int
    platform: str
    post_id: str
    label: str
    author_pk: int
    author_name: str


def visible_post(session: Session, *, workspace_id: int, post_pk: int) -> PostRef:
    """The post if one of the workspace's watches mentions it; NotFound otherwise (never a foreign post)."""

    row = session.exec(
        select(PostRow, AuthorRow)
        .join(AuthorRow, col(AuthorRow.id) == col(PostRow.author_pk))
        .where(
            PostRow.id == post_pk,
            col(PostRow.id).in_(
                select(MentionRow.post_pk)
                .join(WatchRow, col(WatchRow.id) == col(MentionRow.watch_id))
                .where(MentionRow.post_pk == post_pk, WatchRow.workspace_id == workspace_id)
            ),
        )
    ).first()
    if row is None:
        raise NotFound("找不到该帖子 post not found")
    post, author = row
    return PostRef(
        post_pk=post.id or 0,
        platform=post.platform,
        post_id=post.post_id,
        label=post.label,
        author_pk=author.id or 0,
        author_name=author.name or author.author_id,
    )


def add_feedback(
    session: Session,
    *,
    workspace_id: int,
    post_pk: int,
    user_id: int,
    label: str,
    now: datetime | None = None,
) -> PostRef:
    """Record (or replace) `user_id`'s sentiment correction of a post the workspace can see."""

    if label not in FEEDBACK_LABELS:
        raise BotRepoError(f"未知标签 unknown label {label[:20]!r}")
    ref = visible_post(session, workspace_id=workspace_id, post_pk=post_pk)
    row = (
        session.exec(
            select(SentimentFeedbackRow).where(
                SentimentFeedbackRow.post_pk == post_pk, SentimentFeedbackRow.user_id == user_id
            )
        )
        .scalars()
        .first()
    )
    now = now or datetime.now(UTC)
    text = session.exec(select(PostRow.text).where(PostRow.id == post_pk)).scalars().one()
    if row is None:
        session.add(
            SentimentFeedbackRow(
                post_pk=post_pk,
                workspace_id=workspace_id,
                user_id=user_id,
                label=label,
                text=text,
                created_at=now,
            )
        )
    else:
        row.label, row.created_at, row.workspace_id, row.text = label, now, workspace_id, text
    session.flush()
    return ref


def ignore_author(session: Session, *, workspace_id: int, post_pk: int) -> PostRef:
    """Ignore the author of a visible post in this workspace (idempotent)."""

    ref = visible_post(session, workspace_id=workspace_id, post_pk=post_pk)
    exists = session.exec(
        select(IgnoredAuthorRow.id).where(
            IgnoredAuthorRow.workspace_id == workspace_id, IgnoredAuthorRow.author_pk == ref.author_pk
        )
    ).first()
    if exists is None:
        session.add(IgnoredAuthorRow(workspace_id=workspace_id, author_pk=ref.author_pk))
        session.flush()
    return ref


def unignore_author(session: Session, *, workspace_id: int, author_pk: int) -> bool:
    row = (
        session.exec(
            select(IgnoredAuthorRow).where(
                IgnoredAuthorRow.workspace_id == workspace_id, IgnoredAuthorRow.author_pk == author_pk
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


@dataclass(frozen=True, slots=True)
class IgnoredAuthor:
    author_pk: int
    platform: str
    name: str
    ignored_at: datetime


@dataclass(frozen=True, slots=True)
class IgnoredPage:
    items: tuple[IgnoredAuthor, ...]
    total: int  # every ignored author of the workspace
    offset: int  # of the first item


def ignored_authors(
    session: Session, *, workspace_id: int, limit: int = 50, offset: int = 0
) -> list[IgnoredAuthor]:
    """The workspace's ignored authors, most recently ignored first, `limit` from `offset`."""

    if not 0 < limit <= 200 or offset < 0:
        raise ValueError(f"limit must be in 1..200 and offset >= 0, not {limit}, {offset}")
    rows = session.execute(
        select(IgnoredAuthorRow.author_pk, AuthorRow.platform, AuthorRow.name, IgnoredAuthorRow.created_at)
        .join(AuthorRow, col(AuthorRow.id) == col(IgnoredAuthorRow.author_pk))
        .where(IgnoredAuthorRow.workspace_id == workspace_id)
        .order_by(col(IgnoredAuthorRow.created_at).desc(), col(IgnoredAuthorRow.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        IgnoredAuthor(pk, platform, name or "", _as_utc(at) or datetime.now(UTC))
        for pk, platform, name, at in rows
    ]


def ignored_page(session: Session, *, workspace_id: int, limit: int, offset: int = 0) -> IgnoredPage:
    """One page of `ignored_authors` with the workspace's total (for "page 2 of 8")."""

    total = session.execute(
        select(func.count())
        .select_from(IgnoredAuthorRow)
        .join(AuthorRow, col(AuthorRow.id) == col(IgnoredAuthorRow.author_pk))
        .where(IgnoredAuthorRow.workspace_id == workspace_id)
    ).one()[0]
    items = ignored_authors(session, workspace_id=workspace_id, limit=limit, offset=offset)
    return IgnoredPage(items=tuple(items), total=int(total), offset=offset)


def ignored_author_pks(session: Session, *, workspace_id: int) -> set[int]:
    return set(
        session.exec(
            select(IgnoredAuthorRow.author_pk).where(IgnoredAuthorRow.workspace_id == workspace_id)
        ).scalars()
    )
