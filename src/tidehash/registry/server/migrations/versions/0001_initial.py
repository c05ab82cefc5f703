"""The registry's first schema: keys, cases, entries, the outbox and change log, the
publisher's state, spent challenges, platforms, tokens, feedback.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_key",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False)
    op.create_table(
        "case",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_day", sa.String(10), nullable=False),
        sqlite_with_rowid=False)
    op.create_table(
        "entry",
        sa.Column("id", RowKey, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(24), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("pdq", sa.LargeBinary),
        sa.Column("quality", sa.SmallInteger),
        sa.Column("md5", sa.LargeBinary),
        sa.Column("sha256", sa.LargeBinary),
        sa.Column("vpdq", sa.Text),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_day", sa.String(10), nullable=False),
        sa.Column("added_seq", sa.BigInteger),
        sa.Column("removed_seq", sa.BigInteger))
    op.create_index("ix_entry_case", "entry", ["case_id", "item"], unique=True)
    op.create_index("ix_entry_added", "entry", ["added_seq"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False))
    op.create_table(
        "change",
        sa.Column("seq", RowKey, primary_key=True, autoincrement=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("op", sa.String(8), nullable=False))
    publisher = op.create_table(
        "publisher",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("head", sa.BigInteger, nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("floor", sa.BigInteger, nullable=False),
        sa.Column("ticked_at", sa.Float, nullable=False))
    op.bulk_insert(publisher, [{"id": 1, "head": 0, "epoch": 0, "floor": 0, "ticked_at": 0.0}])
    op.create_table(
        "spent_challenge",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False)
    op.create_index("ix_spent_challenge_expires", "spent_challenge", ["expires"])
    op.create_table(
        "platform",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("created_day", sa.String(10), nullable=False))
    op.create_table(
        "token",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("platform_id", sa.Integer, sa.ForeignKey("platform.id")),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("expires", sa.BigInteger),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("created_day", sa.String(10), nullable=False))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform_id", sa.Integer, sa.ForeignKey("platform.id"), nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.String(12), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("day", sa.String(10), nullable=False))
    op.create_index("ix_feedback_entry", "feedback", ["entry_id"])


def downgrade() -> None:
    for name in ("feedback", "token", "platform", "spent_challenge", "publisher", "change",
                 "outbox", "entry", "case", "server_key"):
        op.drop_table(name)
