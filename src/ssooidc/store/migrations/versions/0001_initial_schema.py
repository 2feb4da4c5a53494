"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("instance_arn", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("provider_arn", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("portal_options", sa.JSON(), nullable=True),
        sa.Column("assignment_required", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_applications")),
        sa.UniqueConstraint("client_id", name=op.f("uq_applications_client_id")),
        sa.UniqueConstraint("name", name=op.f("uq_applications_name")),
    )
    op.create_table(
        "assertion_replay",
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("jti", sa.String(length=512), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name=op.f("pk_assertion_replay")),
    )
    with op.batch_alter_table("assertion_replay", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assertion_replay_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("client_id", sa.String(length=512), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("auth_time", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("consumed_at", sa.Float(), nullable=True),
        sa.Column("family_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_authorization_codes")),
    )
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorization_codes_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "iam_principals",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("assume_role_policy", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("max_session_duration", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_iam_principals")),
        sa.UniqueConstraint("kind", "name", name="uq_iam_principals_kind_name"),
        sa.UniqueConstraint("principal_id", name=op.f("uq_iam_principals_principal_id")),
    )
    op.create_table(
        "iam_sessions",
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("role_arn", sa.String(length=512), nullable=False),
        sa.Column("session_name", sa.String(length=64), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_iam_sessions")),
    )
    with op.batch_alter_table("iam_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_iam_sessions_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "identity_groups",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("identity_store_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=1024), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_identity_groups")),
        sa.UniqueConstraint(
            "identity_store_id", "display_name", name="uq_identity_groups_store_name"
        ),
    )
    op.create_table(
        "identity_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("identity_store_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_identity_users")),
        sa.UniqueConstraint("identity_store_id", "user_name", name="uq_identity_users_store_name"),
    )
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_secrets")),
    )
    op.create_table(
        "instances",
        sa.Column("arn", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("identity_store_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_instances")),
        sa.UniqueConstraint("identity_store_id", name=op.f("uq_instances_identity_store_id")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_instances_instance_id")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_enc", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.Column("publish_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state")),
    )
    op.create_table(
        "token_families",
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("issuer_arn", sa.String(length=512), nullable=True),
        sa.Column("auth_time", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_token_families")),
    )
    with op.batch_alter_table("token_families", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_token_families_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("consumed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_tokens")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "trusted_token_issuers",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("instance_arn", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("issuer_type", sa.String(length=32), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_trusted_token_issuers")),
        sa.UniqueConstraint("name", name=op.f("uq_trusted_token_issuers_name")),
    )
    op.create_table(
        "application_assignments",
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("principal_type", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_arn"],
            ["applications.arn"],
            name=op.f("fk_application_assignments_application_arn_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "application_arn",
            "principal_type",
            "principal_id",
            name=op.f("pk_application_assignments"),
        ),
    )
    op.create_table(
        "application_auth_methods",
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("method_type", sa.String(length=16), nullable=False),
        sa.Column("method", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_arn"],
            ["applications.arn"],
            name=op.f("fk_application_auth_methods_application_arn_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "application_arn", "method_type", name=op.f("pk_application_auth_methods")
        ),
    )
    op.create_table(
        "application_grants",
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("grant_type", sa.String(length=128), nullable=False),
        sa.Column("grant", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_arn"],
            ["applications.arn"],
            name=op.f("fk_application_grants_application_arn_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "application_arn", "grant_type", name=op.f("pk_application_grants")
        ),
    )
    op.create_table(
        "application_scopes",
        sa.Column("application_arn", sa.String(length=512), nullable=False),
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("authorized_targets", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_arn"],
            ["applications.arn"],
            name=op.f("fk_application_scopes_application_arn_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_arn", "scope", name=op.f("pk_application_scopes")),
    )
    op.create_table(
        "iam_access_keys",
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("principal_arn", sa.String(length=512), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_arn"],
            ["iam_principals.arn"],
            name=op.f("fk_iam_access_keys_principal_arn_iam_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_iam_access_keys")),
    )
    with op.batch_alter_table("iam_access_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_iam_access_keys_principal_arn"), ["principal_arn"], unique=False
        )

    op.create_table(
        "iam_policies",
        sa.Column("principal_arn", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_arn"],
            ["iam_principals.arn"],
            name=op.f("fk_iam_policies_principal_arn_iam_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("principal_arn", "name", name=op.f("pk_iam_policies")),
    )
    op.create_table(
        "identity_memberships",
        sa.Column("membership_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["identity_groups.group_id"],
            name=op.f("fk_identity_memberships_group_id_identity_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.user_id"],
            name=op.f("fk_identity_memberships_user_id_identity_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("membership_id", name=op.f("pk_identity_memberships")),
        sa.UniqueConstraint("group_id", "user_id", name="uq_identity_memberships_group_user"),
    )
    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_memberships_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "identity_user_attributes",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.user_id"],
            name=op.f("fk_identity_user_attributes_user_id_identity_users"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("identity_user_attributes", schema=None) as batch_op:
        batch_op.create_index("ix_identity_user_attributes_lookup", ["path", "value"], unique=False)
        batch_op.create_index("ix_identity_user_attributes_user", ["user_id"], unique=False)

    op.bulk_insert(
        sa.table("state", sa.column("id", sa.Integer), sa.column("generation", sa.BigInteger)),
        [{"id": 1, "generation": 0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("identity_user_attributes", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_user_attributes_user")
        batch_op.drop_index("ix_identity_user_attributes_lookup")

    op.drop_table("identity_user_attributes")
    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_memberships_user_id"))

    op.drop_table("identity_memberships")
    op.drop_table("iam_policies")
    with op.batch_alter_table("iam_access_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_access_keys_principal_arn"))

    op.drop_table("iam_access_keys")
    op.drop_table("application_scopes")
    op.drop_table("application_grants")
    op.drop_table("application_auth_methods")
    op.drop_table("application_assignments")
    op.drop_table("trusted_token_issuers")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_expires_at"))

    op.drop_table("tokens")
    with op.batch_alter_table("token_families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_families_expires_at"))

    op.drop_table("token_families")
    op.drop_table("state")
    op.drop_table("signing_keys")
    op.drop_table("instances")
    op.drop_table("instance_secrets")
    op.drop_table("identity_users")
    op.drop_table("identity_groups")
    with op.batch_alter_table("iam_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_sessions_expires_at"))

    op.drop_table("iam_sessions")
    op.drop_table("iam_principals")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_codes_expires_at"))

    op.drop_table("authorization_codes")
    with op.batch_alter_table("assertion_replay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assertion_replay_expires_at"))

    op.drop_table("assertion_replay")
    op.drop_table("applications")
