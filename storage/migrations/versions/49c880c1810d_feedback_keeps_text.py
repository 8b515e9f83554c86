"""sentiment feedback keeps its text and workspace

A correction is the team's labelled training data: it must survive retention, which deletes old
posts. The row now carries the corrected text (backfilled from the post) and the workspace whose
member made it (backfilled where only one workspace watches the post), and `post_pk` may become
NULL once the post is purged.

Revision ID: 49c880c1810d
Revises: d4d60bde2d90
Create Date: 2026-12-06 06:15:43.508610
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '49c880c1810d'
down_revision: str | None = 'd4d60bde2d90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORKSPACE_FK = 'fk_sentiment_feedback_workspace_id_workspace'


def upgrade() -> None:
    with op.batch_alter_table('sentiment_feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='')
        )
        batch_op.alter_column('post_pk', existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(
            batch_op.f('ix_sentiment_feedback_workspace_id'), ['workspace_id'], unique=False
        )
        batch_op.create_foreign_key(_WORKSPACE_FK, 'workspace', ['workspace_id'], ['id'])
    op.execute(
        "UPDATE sentiment_feedback SET text = "
        "(SELECT post.text FROM post WHERE post.id = sentiment_feedback.post_pk) "
        "WHERE post_pk IS NOT NULL"
    )
    # The workspace is known for sure only when one workspace's watches mention the post; a post
    # several workspaces watch keeps NULL (such corrections train models without --workspace).
    op.execute(
        "UPDATE sentiment_feedback SET workspace_id = "
        "(SELECT MIN(watch.workspace_id) FROM mention JOIN watch ON watch.id = mention.watch_id "
        "WHERE mention.post_pk = sentiment_feedback.post_pk) "
        "WHERE post_pk IS NOT NULL AND "
        "(SELECT COUNT(DISTINCT watch.workspace_id) FROM mention JOIN watch ON watch.id = mention.watch_id "
        "WHERE mention.post_pk = sentiment_feedback.post_pk) = 1"
    )
    # The models declare no server default; drop it so the parity test sees the same schema.
    with op.batch_alter_table('sentiment_feedback', schema=None) as batch_op:
        batch_op.alter_column('text', existing_type=sqlmodel.sql.sqltypes.AutoString(), server_default=None)


def downgrade() -> None:
    op.execute("DELETE FROM sentiment_feedback WHERE post_pk IS NULL")
    with op.batch_alter_table('sentiment_feedback', schema=None) as batch_op:
        batch_op.drop_constraint(_WORKSPACE_FK, type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sentiment_feedback_workspace_id'))
        batch_op.alter_column('post_pk', existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column('text')
        batch_op.drop_column('workspace_id')
