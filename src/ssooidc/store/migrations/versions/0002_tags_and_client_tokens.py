"""tags and client tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_tokens",
        sa.Column("operation", sa.String(length=128), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("operation", "token", name=op.f("pk_client_tokens")),
    )
    with op.batch_alter_table("client_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_tokens_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "resource_tags",
        sa.Column("resource_arn", sa.String(length=512), nullable=False),
        sa.Column("tag_key", sa.String(length=128), nullable=False),
        sa.Column("tag_value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("resource_arn", "tag_key", name=op.f("pk_resource_tags")),
    )


def downgrade() -> None:
    op.drop_table("resource_tags")
    with op.batch_alter_table("client_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_tokens_created_at"))

    op.drop_table("client_tokens")
