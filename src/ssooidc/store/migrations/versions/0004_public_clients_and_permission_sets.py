"""public clients, device authorizations, permission sets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
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
        "device_authorizations",
        sa.Column("device_code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("family_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash", name=op.f("pk_device_authorizations")),
        sa.UniqueConstraint("user_code", name=op.f("uq_device_authorizations_user_code")),
    )
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_authorizations_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("client_name", sa.String(length=128), nullable=False),
        sa.Column("client_type", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("issuer_url", sa.String(length=2048), nullable=True),
        sa.Column("entitled_application_arn", sa.String(length=512), nullable=True),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("secret_expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_clients")),
    )
    with op.batch_alter_table("oidc_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oidc_clients_secret_expires_at"), ["secret_expires_at"], unique=False
        )

    op.create_table(
        "permission_sets",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=700), nullable=True),
        sa.Column("session_duration", sa.String(length=32), nullable=False),
        sa.Column("relay_state", sa.String(length=240), nullable=True),
        sa.Column("inline_policy", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_permission_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_permission_sets_name")),
    )
    op.create_table(
        "sso_admin_requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_sso_admin_requests")),
    )
    op.create_table(
        "account_assignments",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("permission_set_arn", sa.String(length=512), nullable=False),
        sa.Column("principal_type", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permission_set_arn"],
            ["permission_sets.arn"],
            name=op.f("fk_account_assignments_permission_set_arn_permission_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id",
            "permission_set_arn",
            "principal_type",
            "principal_id",
            name=op.f("pk_account_assignments"),
        ),
    )
    op.create_table(
        "permission_set_managed_policies",
        sa.Column("permission_set_arn", sa.String(length=512), nullable=False),
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(
            ["permission_set_arn"],
            ["permission_sets.arn"],
            name=op.f("fk_permission_set_managed_policies_permission_set_arn_permission_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "permission_set_arn", "policy_arn", name=op.f("pk_permission_set_managed_policies")
        ),
    )


def downgrade() -> None:
    op.drop_table("permission_set_managed_policies")
    op.drop_table("account_assignments")
    op.drop_table("sso_admin_requests")
    op.drop_table("permission_sets")
    with op.batch_alter_table("oidc_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_clients_secret_expires_at"))

    op.drop_table("oidc_clients")
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_authorizations_expires_at"))

    op.drop_table("device_authorizations")
