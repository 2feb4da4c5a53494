"""identity store metadata: revisions, who created and changed what, store settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("created_by", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.String(length=2048), nullable=True))

    with op.batch_alter_table("identity_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("created_by", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.String(length=2048), nullable=True))
    op.execute("UPDATE identity_groups SET updated_at = created_at WHERE updated_at IS NULL")

    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=2048), nullable=True))

    op.create_table(
        "identity_store_settings",
        sa.Column("identity_store_id", sa.String(length=64), nullable=False),
        sa.Column("network_configuration", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("identity_store_id", name=op.f("pk_identity_store_settings")),
    )


def downgrade() -> None:
    op.drop_table("identity_store_settings")
    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.drop_column("created_by")
        batch_op.drop_column("created_at")
    with op.batch_alter_table("identity_groups", schema=None) as batch_op:
        batch_op.drop_column("updated_by")
        batch_op.drop_column("created_by")
        batch_op.drop_column("revision")
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.drop_column("updated_by")
        batch_op.drop_column("created_by")
        batch_op.drop_column("revision")
