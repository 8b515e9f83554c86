"""post parent index (ix_post_parent)

The index was added to the models in e34ce8f (the KOL job reads comments and reposts of a post by
platform and parent_id) without a migration, so databases built by `kolwatch db upgrade` lacked it.

Revision ID: d4d60bde2d90
Revises: 75284bf04ba5
Create Date: 2026-12-06 06:11:58.609319
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'd4d60bde2d90'
down_revision: str | None = '75284bf04ba5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # if_not_exists: a database whose tables came from create_all (demo, tests) and was stamped at
    # the initial revision already has the index.
    op.create_index('ix_post_parent', 'post', ['platform', 'parent_id'], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index('ix_post_parent', table_name='post', if_exists=True)
