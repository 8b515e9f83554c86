"""Sentiment corrections made in the bot, read back as training data for `kolwatch sentiment train`.

Users mark a post's sentiment wrong with the feedback buttons (bot_repo.add_feedback); each
correction keeps its own copy of the text, so it stays usable after retention purged the post.
One text is one sample: several users correcting the same post (or copies of one text) count once,
with the label most of them chose and, on a tie, the latest correction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from storage.models import PostRow, SentimentFeedbackRow, WorkspaceRow
from storage.repos import as_utc


@dataclass(frozen=True, slots=True)
class FeedbackSample:
    text: str
    label: str
    corrections: int  # how many corrections of this text went into the label
    disagreeing: int  # of those, how many chose another label
    platform: str  # "" once the post is purged
    post_id: str
    corrected_at: datetime  # the latest correction


class UnknownWorkspace(LookupError):
    """The workspace named for the feedback does not exist in the database."""


def feedback_samples(session: Session, *, workspace: str | None = None) -> list[FeedbackSample]:
    """Every corrected text (optionally of one workspace's members), oldest correction first."""

    query = (
        select(
            SentimentFeedbackRow.text,
            SentimentFeedbackRow.label,
            SentimentFeedbackRow.created_at,
            PostRow.platform,
            PostRow.post_id,
        )
        .outerjoin(PostRow, PostRow.id == SentimentFeedbackRow.post_pk)
        .order_by(SentimentFeedbackRow.created_at, SentimentFeedbackRow.id)
    )
    if workspace is not None:
        workspace_id = session.exec(select(WorkspaceRow.id).where(WorkspaceRow.name == workspace)).scalar()
        if workspace_id is None:
            raise UnknownWorkspace(workspace)
        query = query.where(SentimentFeedbackRow.workspace_id == workspace_id)

    by_text: dict[str, list[tuple[str, datetime, str, str]]] = {}
    for text, label, created_at, platform, post_id in session.exec(query):
        if text.strip():
            by_text.setdefault(text, []).append((label, as_utc(created_at), platform or "", post_id or ""))

    samples: list[FeedbackSample] = []
    for text, corrections in by_text.items():
        votes = Counter(label for label, *_ in corrections)
        top = max(votes.values())
        # Ties go to the most recent correction among the most chosen labels.
        label = next(lab for lab, *_ in reversed(corrections) if votes[lab] == top)
        _, latest, platform, post_id = corrections[-1]
        samples.append(
            FeedbackSample(
                text=text,
                label=label,
                corrections=len(corrections),
                disagreeing=len(corrections) - votes[label],
                platform=platform,
                post_id=post_id,
                corrected_at=latest,
            )
        )
    samples.sort(key=lambda s: s.corrected_at)
    return samples
