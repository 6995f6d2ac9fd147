"""erasure: forgotten people (a keyed hash only) and self-service erase requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:30:00
"""

import sqlalchemy as sa
from alembic import op

import store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forgotten",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person"),
    )
    op.create_table(
        "erase_requests",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person"),
    )


def downgrade() -> None:
    op.drop_table("erase_requests")
    op.drop_table("forgotten")
