"""The store's tables (SQLAlchemy Core); migrations in ``migrations/`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row: the generation counter that every control-plane write bumps, so that each
# process knows at once when its cached view of the tenant is stale.
state = Table(
    "state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

secrets_table = Table(
    "instance_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value_enc", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("arn", String(200), primary_key=True),
    Column("instance_id", String(64), nullable=False, unique=True),
    Column("identity_store_id", String(64), nullable=False, unique=True),
    Column("account_id", String(12), nullable=False),
    Column("name", String(255)),
    Column("status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)

iam_principals = Table(
    "iam_principals",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("kind", String(8), nullable=False),  # user | role
    Column("name", String(128), nullable=False),
    Column("principal_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("assume_role_policy", JSON),
    Column("tags", JSON, nullable=False),
    Column("max_session_duration", Integer),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("kind", "name", name="uq_iam_principals_kind_name"),
)

iam_policies = Table(
    "iam_policies",
    metadata,
    Column(
        "principal_arn",
        String(512),
        ForeignKey("iam_principals.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(128), primary_key=True),
    Column("document", JSON, nullable=False),
)

iam_access_keys = Table(
    "iam_access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column(
        "principal_arn",
        String(512),
        ForeignKey("iam_principals.arn", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

# Temporary credentials (sts): the secret is encrypted, the session token only hashed.
iam_sessions = Table(
    "iam_sessions",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("token_hash", LargeBinary, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("role_arn", String(512), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("context", JSON),
    Column("expires_at", Float, nullable=False, index=True),
    Column("created_at", Float, nullable=False),
)

identity_users = Table(
    "identity_users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("identity_store_id", String(64), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("document", JSON, nullable=False),
    Column("password_hash", String(255)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The identitystore Revision: starts at 1, one more on every change.
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_by", String(2048)),
    Column("updated_by", String(2048)),
    UniqueConstraint("identity_store_id", "user_name", name="uq_identity_users_store_name"),
)

# Searchable attribute values of users (userName, emails.value, externalIds.id, ...), so that
# a trusted issuer's IdentityStoreAttributePath is one indexed lookup.
identity_user_attributes = Table(
    "identity_user_attributes",
    metadata,
    Column(
        "user_id",
        String(64),
        ForeignKey("identity_users.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("path", String(64), nullable=False),
    Column("value", String(2048), nullable=False),
    Index("ix_identity_user_attributes_lookup", "path", "value"),
    Index("ix_identity_user_attributes_user", "user_id"),
)

identity_groups = Table(
    "identity_groups",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("identity_store_id", String(64), nullable=False),
    Column("display_name", String(1024), nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float),
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_by", String(2048)),
    Column("updated_by", String(2048)),
    UniqueConstraint("identity_store_id", "display_name", name="uq_identity_groups_store_name"),
)

identity_memberships = Table(
    "identity_memberships",
    metadata,
    Column("membership_id", String(64), primary_key=True),
    Column(
        "group_id",
        String(64),
        ForeignKey("identity_groups.group_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "user_id",
        String(64),
        ForeignKey("identity_users.user_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", Float),
    Column("created_by", String(2048)),
    UniqueConstraint("group_id", "user_id", name="uq_identity_memberships_group_user"),
)

# Settings of the identity store that UpdateIdentityStore changes.
identity_store_settings = Table(
    "identity_store_settings",
    metadata,
    Column("identity_store_id", String(64), primary_key=True),
    Column("network_configuration", JSON),
    Column("updated_at", Float, nullable=False),
)

trusted_token_issuers = Table(
    "trusted_token_issuers",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("instance_arn", String(200), nullable=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("issuer_type", String(32), nullable=False),
    Column("configuration", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("instance_arn", String(200), nullable=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("provider_arn", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", String(2048)),
    Column("portal_options", JSON),
    Column("assignment_required", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
)

application_grants = Table(
    "application_grants",
    metadata,
    Column(
        "application_arn",
        String(512),
        ForeignKey("applications.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("grant_type", String(128), primary_key=True),
    Column("grant", JSON, nullable=False),
)

application_auth_methods = Table(
    "application_auth_methods",
    metadata,
    Column(
        "application_arn",
        String(512),
        ForeignKey("applications.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("method_type", String(16), primary_key=True),
    Column("method", JSON, nullable=False),
)

application_scopes = Table(
    "application_scopes",
    metadata,
    Column(
        "application_arn",
        String(512),
        ForeignKey("applications.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("scope", String(160), primary_key=True),
    Column("authorized_targets", JSON, nullable=False),
)

application_assignments = Table(
    "application_assignments",
    metadata,
    Column(
        "application_arn",
        String(512),
        ForeignKey("applications.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("principal_type", String(8), primary_key=True),
    Column("principal_id", String(64), primary_key=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),  # id_token | demo_idp
    Column("alg", String(16), nullable=False),
    Column("private_enc", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    # Signs from this time on (published at once, so relying parties see it before it signs)
    # until a newer key's time comes.
    Column("active_from", Float, nullable=False),
    # Set by a revocation: the key signs no more; published until ``publish_until``.
    Column("retired_at", Float),
    # Published in the JWKS until this time: the end of the last token the key could sign.
    Column("publish_until", Float),
)

# A token family: everything descended from one jwt-bearer exchange, one code redemption,
# one token exchange or one device approval. Its id is the ID token's aws:credential_id.
token_families = Table(
    "token_families",
    metadata,
    Column("family_id", String(64), primary_key=True),
    Column("application_arn", String(512), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("issuer_arn", String(512)),
    Column("auth_time", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("revoked_at", Float),
)

# Access and refresh tokens, by SHA-256 of the token; never the token itself.
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("kind", String(8), nullable=False),  # access | refresh
    Column("family_id", String(64), nullable=False),
    Column("application_arn", String(512), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("consumed_at", Float),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", LargeBinary, primary_key=True),
    Column("client_id", String(512), nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(8)),
    Column("auth_time", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("consumed_at", Float),
    Column("family_id", String(64)),
)

# (iss, jti) of every assertion exchanged, until it could no longer be valid anyway.
assertion_replay = Table(
    "assertion_replay",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(512), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

# Tags of sso-admin resources (applications, trusted token issuers, the instance).
resource_tags = Table(
    "resource_tags",
    metadata,
    Column("resource_arn", String(512), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

# ClientToken idempotency: the answer to the first request with a token is the answer to
# every retry with the same token and the same members.
client_tokens = Table(
    "client_tokens",
    metadata,
    Column("operation", String(128), primary_key=True),
    Column("token", String(128), primary_key=True),
    Column("request_digest", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)

# Public clients registered through sso-oidc RegisterClient (the AWS CLI, SDKs).
oidc_clients = Table(
    "oidc_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("client_name", String(128), nullable=False),
    Column("client_type", String(16), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("issuer_url", String(2048)),
    Column("entitled_application_arn", String(512)),
    Column("issued_at", Float, nullable=False),
    Column("secret_expires_at", Float, nullable=False, index=True),
)

# Device authorizations (RFC 8628): the device code only as a hash; the user code is short
# and typed by a person, so it is unique among live authorizations.
device_authorizations = Table(
    "device_authorizations",
    metadata,
    Column("device_code_hash", LargeBinary, primary_key=True),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("client_id", String(128), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | denied | consumed
    Column("user_id", String(64)),
    Column("interval", Integer, nullable=False),
    Column("last_polled_at", Float),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("decided_at", Float),
    Column("family_id", String(64)),
)

# Permission sets and the account assignments the access portal (GetRoleCredentials) serves.
permission_sets = Table(
    "permission_sets",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("description", String(700)),
    Column("session_duration", String(32), nullable=False),
    Column("relay_state", String(240)),
    Column("inline_policy", JSON),
    Column("created_at", Float, nullable=False),
)

permission_set_managed_policies = Table(
    "permission_set_managed_policies",
    metadata,
    Column(
        "permission_set_arn",
        String(512),
        ForeignKey("permission_sets.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("policy_arn", String(2048), primary_key=True),
)

account_assignments = Table(
    "account_assignments",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column(
        "permission_set_arn",
        String(512),
        ForeignKey("permission_sets.arn", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("principal_type", String(8), primary_key=True),
    Column("principal_id", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# The status records of sso-admin's asynchronous operations (provisioning, assignments).
sso_admin_requests = Table(
    "sso_admin_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("kind", String(48), nullable=False),
    Column("status", String(16), nullable=False),
    Column("details", JSON, nullable=False),
    Column("failure_reason", String(1024)),
    Column("created_at", Float, nullable=False),
)

# Signed-in browsers: the session id lives only in the user's cookie; its SHA-256 is stored.
browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("session_hash", LargeBinary, primary_key=True),
    Column(
        "user_id",
        String(64),
        ForeignKey("identity_users.user_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("auth_time", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)
