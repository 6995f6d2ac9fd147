"""lifecycle: the lead's refusals, flags marked done, set-aside records resolved, answers by response id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:50:00
"""

import sqlalchemy as sa
from alembic import op

import store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("mentor_email", sa.String(length=320), nullable=False),
        sa.Column("at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "mentor_email", name="uq_refusal_request_mentor"),
    )
    op.create_table(
        "answers_taken",
        sa.Column("response_id", sa.String(length=300), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("response_id"),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_at", store.tables.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("set_aside", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("person", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_response_id", ["response_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_response_id")
    with op.batch_alter_table("set_aside", schema=None) as batch_op:
        batch_op.drop_column("person")
        batch_op.drop_column("resolved_at")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("done_at")
    op.drop_table("answers_taken")
    op.drop_table("refusals")
