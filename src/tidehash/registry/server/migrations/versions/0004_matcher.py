"""The matcher's tables: ``matcher_bank`` (one row per bank: its source, the source's
checkpoint, the bank's change head, its sync state), ``matcher_entry`` (a bank's
entries; a removal keeps the row with a new seq) and ``matcher_feedback`` (verdicts
queued for the banks' sources). Joins the two 0003 heads into one.

Revision ID: 0004_matcher
Revises: 0003_abuse, 0003_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_matcher"
down_revision = ("0003_abuse", "0003_audit")
branch_labels = None
depends_on = None

RowKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "matcher_bank",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("checkpoint", sa.Text),
        sa.Column("head", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("synced", sa.BigInteger),
        sa.Column("attempted", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("refused", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_matcher_bank_name", "matcher_bank", ["name"], unique=True)
    op.create_table(
        "matcher_entry",
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("matcher_bank.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("pdq", sa.LargeBinary),
        sa.Column("quality", sa.SmallInteger),
        sa.Column("md5", sa.LargeBinary),
        sa.Column("sha256", sa.LargeBinary),
        sa.Column("label", sa.String(300), nullable=False, server_default=""),
        sa.Column("removed", sa.Boolean, nullable=False, server_default="0"))
    op.create_index("ix_matcher_entry_seq", "matcher_entry", ["bank_id", "seq"], unique=True)
    op.create_table(
        "matcher_feedback",
        sa.Column("id", RowKey, primary_key=True, autoincrement=True),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("matcher_bank.id"), nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.String(12), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text))
    op.create_index("ix_matcher_feedback_due", "matcher_feedback", ["state", "next_at"])


def downgrade() -> None:
    op.drop_table("matcher_feedback")
    op.drop_table("matcher_entry")
    op.drop_table("matcher_bank")
