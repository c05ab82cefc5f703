"""Abuse control: trust tiers (case.tier / partner_id, entry.tier), entry versions (a
held entry released after publication comes back under a new id: the unique index of a
case's items takes the version), the hour of a feedback (the flood rule), the negative
list and the review queue.

Revision ID: 0003_abuse
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_abuse"
down_revision = "0002"
branch_labels = None
depends_on = None

RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # plain ADD COLUMNs (no table rebuild on SQLite: "case" is WITHOUT ROWID)
    op.add_column("case", sa.Column("tier", sa.String(8), nullable=False,
                                    server_default="person"))
    op.add_column("case", sa.Column("partner_id", sa.Integer))
    op.drop_index("ix_entry_case", "entry")
    op.add_column("entry", sa.Column("tier", sa.String(8), nullable=False,
                                     server_default="person"))
    op.add_column("entry", sa.Column("version", sa.Integer, nullable=False,
                                     server_default="0"))
    op.create_index("ix_entry_case", "entry", ["case_id", "item", "version"], unique=True)
    op.add_column("feedback", sa.Column("hour", sa.BigInteger))
    op.create_index("ix_feedback_hour", "feedback", ["hour"])
    op.create_table(
        "negative",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signal", sa.String(8), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("radius", sa.SmallInteger, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_day", sa.String(10), nullable=False),
        sqlite_autoincrement=True)
    op.create_index("ix_negative_value", "negative", ["signal", "value"], unique=True)
    op.create_table(
        "review",
        sa.Column("id", RowKey, primary_key=True, autoincrement=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("rule", sa.String(12), nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("open_entry", sa.BigInteger),
        sa.Column("platforms", sa.Integer, nullable=False),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("disputes", sa.Integer, nullable=False),
        sa.Column("negative_id", sa.Integer),
        sa.Column("distance", sa.SmallInteger),
        sa.Column("opened_day", sa.String(10), nullable=False),
        sa.Column("decided_day", sa.String(10)),
        sa.Column("released_as", sa.BigInteger),
        sqlite_with_rowid=False)
    op.create_index("ix_review_open", "review", ["open_entry", "rule"], unique=True)
    op.create_index("ix_review_entry", "review", ["entry_id"])


def downgrade() -> None:
    op.drop_table("review")
    op.drop_table("negative")
    op.drop_index("ix_feedback_hour", "feedback")
    op.drop_column("feedback", "hour")
    op.drop_index("ix_entry_case", "entry")
    op.drop_column("entry", "version")
    op.drop_column("entry", "tier")
    op.create_index("ix_entry_case", "entry", ["case_id", "item"], unique=True)
    op.drop_column("case", "partner_id")
    op.drop_column("case", "tier")
