"""surveys sent and reschedules as facts of their own (no longer read back from ledger keys)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:40:00
"""

import sqlalchemy as sa
from alembic import op

import store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "surveys_sent",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sent_at", store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("match_id", "role", "kind", name="uq_survey_sent_match_role_kind"),
    )
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("reschedules", sa.Integer(), nullable=False, server_default="0"))

    # Carry over what existing ledgers hold: keys `survey|reminder:<match>:<role>` and `reschedule:<match>:<n>`.
    conn = op.get_bind()
    ledger = sa.table(
        "ledger",
        sa.column("key", sa.String),
        sa.column("status", sa.String),
        sa.column("updated_at", store.tables.UTCDateTime(timezone=True)),
    )
    matches = {m for (m,) in conn.execute(sa.text("SELECT id FROM matches"))}
    sent, moves = [], {}  # type: ignore[var-annotated]
    for key, at in conn.execute(sa.select(ledger.c.key, ledger.c.updated_at).where(ledger.c.status == "done")):
        kind, _, rest = key.partition(":")
        parts = rest.split(":")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) not in matches:
            continue
        if kind in ("survey", "reminder") and parts[1] in ("mentee", "mentor"):
            sent.append({"match_id": int(parts[0]), "role": parts[1], "kind": kind, "sent_at": at})
        elif kind == "reschedule":
            moves[int(parts[0])] = moves.get(int(parts[0]), 0) + 1
    if sent:
        surveys = sa.table(
            "surveys_sent",
            sa.column("match_id", sa.Integer),
            sa.column("role", sa.String),
            sa.column("kind", sa.String),
            sa.column("sent_at", store.tables.UTCDateTime(timezone=True)),
        )
        op.bulk_insert(surveys, sent)
    for match_id, n in moves.items():
        conn.execute(sa.text("UPDATE meetings SET reschedules = :n WHERE match_id = :m"), {"n": n, "m": match_id})


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("reschedules")
    op.drop_table("surveys_sent")
