"""review queue: texts sampled for a human label, and their labels

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("doc_id", sa.String(length=1160), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=512), nullable=False),
        sa.Column("predicted", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("probabilities", sa.Text(), nullable=False),
        sa.Column("reasons", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Double(), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_id"),
        sa.UniqueConstraint("text_hash"),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index("ix_review_items_queue", ["labelled_at", "exported_at", "priority"],
                              unique=False)
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("labelled_by", sa.String(length=128), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "entity", name="uq_review_labels_entity"),
    )


def downgrade() -> None:
    op.drop_table("review_labels")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_items_queue")
    op.drop_table("review_items")
