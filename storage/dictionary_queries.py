"""Names the segmenter must keep whole that only the database knows: scored KOLs' names."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import AuthorRow, KolScoreRow


def kol_names(session: Session, *, min_followers: int, limit: int = 5_000) -> list[str]:
    """Names of authors that have a KOL score and at least `min_followers`, largest first.

    Pseudonymised accounts have no name; they are left out like every nameless author.
    """

    scored = select(KolScoreRow.author_pk).distinct()
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
