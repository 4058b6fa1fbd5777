"""claim fencing tokens, state versions, the partition and timers of each ticker's state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 14:00:00.000000

Existing ``rule_states`` rows get version 1 (0 means "no row yet" to the writers) and are
back-filled from their JSON: ``pending_timers`` from the
rule phases, ``kafka_topic``/``kafka_partition`` from the input positions kept in the state
(the highest "topic/partition" key when there are several; the next input corrects it).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_token", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("rule_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("kafka_topic", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("kafka_partition", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("pending_timers", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_rule_states_timers", ["pending_timers", "kafka_topic", "kafka_partition"],
            unique=False,
        )
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    states = sa.table("rule_states", sa.column("ticker", sa.String), sa.column("state", sa.Text),
                      sa.column("kafka_topic", sa.String), sa.column("kafka_partition", sa.Integer),
                      sa.column("pending_timers", sa.Boolean),
                      sa.column("version", sa.Integer))
    for ticker, text in conn.execute(sa.select(states.c.ticker, states.c.state)).all():
        try:
            raw = json.loads(text or "{}")
        except ValueError:
            raw = {}
        pending = any(r.get("phase", "inactive") != "inactive"
                      for r in raw.get("rules", {}).values())
        topic, partition = None, None
        keys = sorted(raw.get("positions", {}))
        if keys and "/" in keys[-1]:
            topic, _, number = keys[-1].rpartition("/")
            partition = int(number) if number.isdigit() else None
        conn.execute(sa.update(states).where(states.c.ticker == ticker).values(
            version=1, pending_timers=pending, kafka_topic=topic, kafka_partition=partition))


def downgrade() -> None:
    with op.batch_alter_table("rule_states", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_states_timers")
        batch_op.drop_column("pending_timers")
        batch_op.drop_column("kafka_partition")
        batch_op.drop_column("kafka_topic")
        batch_op.drop_column("version")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
