"""The clock of the NCMEC and StopNCII views (``view_clock``: the second at which a view
first saw the change log's head at a seq) and an index on ``entry.removed_seq`` (the
views find tombstones by it).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "view_clock",
        sa.Column("seq", RowKey, primary_key=True, autoincrement=False),
        sa.Column("at", sa.BigInteger, nullable=False))
    op.create_index("ix_entry_removed", "entry", ["removed_seq"])


def downgrade() -> None:
    op.drop_index("ix_entry_removed", "entry")
    op.drop_table("view_clock")
