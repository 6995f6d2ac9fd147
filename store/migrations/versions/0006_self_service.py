"""self-service: actions taken through signed links (withdraw, pause, could not reach, capacity)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:45:00
"""

import sqlalchemy as sa
from alembic import op

import store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "self_service_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=160), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Integer(), nullable=True),
        sa.Column("submitted_at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken_at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("self_service_actions", schema=None) as batch_op:
        batch_op.create_index("ix_self_service_actions_person", ["person"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("self_service_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_self_service_actions_person")
    op.drop_table("self_service_actions")
