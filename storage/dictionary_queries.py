"""Names the segmenter must keep whole that only the database knows: scored KOLs' names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import AuthorRow, KolScoreRow, WatchRow


def kol_names(
    session: Session, *, min_followers: int, scored_after: datetime | None = None, limit: int = 5_000
) -> list[str]:
    """Names of authors that have a KOL score and at least `min_followers`, largest first.

    `scored_after`: only scores computed after this time. Every hourly ranking is kept, so without
    it the whole table is read; with it only the recent rankings are, through the (watch_id,
    computed_at) index. Pseudonymised accounts have no name; they are left out like every
    nameless author.
    """

    scored = select(KolScoreRow.author_pk).distinct()
    if scored_after is not None:
        # watch_id IN (...) lets the range on computed_at use the (watch_id, computed_at) index.
        scored = scored.where(
            col(KolScoreRow.watch_id).in_(select(WatchRow.id)), col(KolScoreRow.computed_at) > scored_after
        )
    rows = session.exec(
        select(AuthorRow.name)
        .where(
            col(AuthorRow.id).in_(scored),
            col(AuthorRow.followers) >= min_followers,
            AuthorRow.name != "",
            ~col(AuthorRow.pseudonymised),
        )
        .order_by(col(AuthorRow.followers).desc(), AuthorRow.id)
        .limit(limit)
    )
    return [name for (name,) in rows]
