"""newsletter: unsubscribes and previews

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:15:00
"""

import sqlalchemy as sa
from alembic import op

import store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "newsletter_unsubscribes",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("person"),
    )
    op.create_table(
        "newsletter_previews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period_start", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("period_start", "period_end", name="uq_newsletter_preview_period"),
    )
    with op.batch_alter_table("newsletter_previews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_newsletter_previews_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("newsletter_previews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_newsletter_previews_status"))
    op.drop_table("newsletter_previews")
    op.drop_table("newsletter_unsubscribes")
