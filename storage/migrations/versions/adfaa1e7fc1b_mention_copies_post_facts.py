"""mentions copy their post's label, engagement and author

The bot ranks a period's mentions by engagement and counts negatives per subject; joining every
mention of 90 days to its post for that cost ~480 ms at 1M posts. Mention rows now carry the
post's label, engagement (likes + 2*comments + 3*reposts) and author, backfilled here, and
ix_mention_subject_created covers those queries; ix_mention_author_pk serves the author foreign key
(deleting or merging an author would otherwise scan every mention).

Counters are not recomputed here: a bucket's engagement total keeps the counts its posts had when
it was last recomputed, until a post of it is seen again (the service now recomputes it then), so
for periods before this revision it can differ from the mentions' refreshed engagement.

Revision ID: adfaa1e7fc1b
Revises: 49c880c1810d
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'adfaa1e7fc1b'
down_revision: str | None = '49c880c1810d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTHOR_FK = 'fk_mention_author_pk_author'
_INDEX_COLUMNS = ['watch_id', 'competitor', 'created_at', 'label', 'engagement', 'author_pk']


def upgrade() -> None:
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='unscored')
        )
        batch_op.add_column(sa.Column('engagement', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('author_pk', sa.Integer(), nullable=True))
    # UPDATE ... FROM: PostgreSQL, and SQLite since 3.33.
    op.execute(
        "UPDATE mention SET label = post.label, author_pk = post.author_pk, "
        "engagement = COALESCE(post.likes, 0) + 2 * COALESCE(post.comments, 0) + 3 * COALESCE(post.reposts, 0) "
        "FROM post WHERE post.id = mention.post_pk"
    )
    # The models declare no server defaults; drop them so the parity test sees the same schema.
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.alter_column('label', existing_type=sqlmodel.sql.sqltypes.AutoString(), server_default=None)
        batch_op.alter_column('engagement', existing_type=sa.BigInteger(), server_default=None)
        batch_op.alter_column('author_pk', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(_AUTHOR_FK, 'author', ['author_pk'], ['id'])
        batch_op.create_index('ix_mention_subject_created', _INDEX_COLUMNS, unique=False)
        batch_op.create_index(batch_op.f('ix_mention_author_pk'), ['author_pk'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mention_author_pk'))
        batch_op.drop_index('ix_mention_subject_created')
        batch_op.drop_constraint(_AUTHOR_FK, type_='foreignkey')
        batch_op.drop_column('author_pk')
        batch_op.drop_column('engagement')
        batch_op.drop_column('label')
