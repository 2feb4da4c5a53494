"""The objects one test needs, made through ssooidc's public APIs (identitystore, sso-admin,
iam, sts) under unique names, and deleted when the test ends: so tests never see each other's
objects, even on one shared server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ssooidc.testing.endpoint import Credentials, Endpoint, identity_context
from ssooidc.testing.issuer import IssuerHost, TrustedIssuer
from ssooidc.testing.objects import (
    AUTHORIZATION_CODE,
    JWT_BEARER,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    IamRole,
    IamUser,
    IdentityGroup,
    IdentityUser,
    Principal,
    RoleSession,
    Target,
    TipApplication,
)

__all__ = [
    "AUTHORIZATION_CODE",
    "JWT_BEARER",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "IamRole",
    "IamUser",
    "IdentityGroup",
    "IdentityUser",
    "IsolatedTenant",
    "RoleSession",
    "TipApplication",
]

#: Grant names ``tip_application(grants=...)`` takes: the grant types, or these short names.
GRANT_NAMES = {
    "jwt-bearer": JWT_BEARER,
    "jwt_bearer": JWT_BEARER,
    JWT_BEARER: JWT_BEARER,
    "token-exchange": TOKEN_EXCHANGE,
    "token_exchange": TOKEN_EXCHANGE,
    TOKEN_EXCHANGE: TOKEN_EXCHANGE,
    "refresh-token": REFRESH_TOKEN,
    REFRESH_TOKEN: REFRESH_TOKEN,
    "authorization-code": AUTHORIZATION_CODE,
    AUTHORIZATION_CODE: AUTHORIZATION_CODE,
}
CUSTOM_PROVIDER = "arn:aws:sso::aws:applicationProvider/custom"
IDENTITY_CENTER_CONTEXT = "arn:aws:iam::aws:contextProvider/IdentityCenter"
#: A loopback redirect URI matches on any port (RFC 8252 section 7.3).
DEFAULT_REDIRECT_URI = "http://127.0.0.1/callback"
_NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchEntity"})


class IsolatedTenant:
    """Factories for one test's objects; ``close()`` deletes them, newest first."""

    def __init__(self, endpoint: Endpoint, *, issuer_host: IssuerHost | None = None) -> None:
        self.endpoint = endpoint
        #: serves the test identity providers (their CA must be one the server trusts)
        self.issuer_host = issuer_host
        self._cleanups: list[Callable[[], None]] = []
        self._default_issuer: TrustedIssuer | None = None
        self._assumer: IamUser | None = None

    @staticmethod
    def unique(stem: str) -> str:
        """``stem`` with a random suffix: unique on any server, shared or not."""
        return f"{stem}-{secrets.token_hex(4)}"

    def _on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Delete everything made, newest first; an object already gone is fine."""
        from botocore.exceptions import ClientError

        errors: list[BaseException] = []
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
                    errors.append(exc)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    # -- identity store -----------------------------------------------------------------------

    def identity_user(
        self,
        user_name: str | None = None,
        *,
        email: str | None = None,
        display_name: str | None = None,
        given_name: str = "Test",
        family_name: str = "User",
        groups: Iterable[IdentityGroup] = (),
        password: str | None = None,
        **attributes: Any,
    ) -> IdentityUser:
        """An identity-store user (CreateUser) named ``<user_name>-<random>``, with the work
        email ``<that name>@example.com`` unless ``email`` is given, in ``groups``. A
        ``password`` (for the browser sign-in) needs a server the tests started. Other
        CreateUser members may be given as keyword arguments."""
        name = self.unique(user_name or "user")
        email = email or f"{name}@example.com"
        display_name = display_name or name
        store = self.endpoint.client("identitystore")
        user_id = store.create_user(
            IdentityStoreId=self.endpoint.identity_store_id,
            UserName=name,
            DisplayName=display_name,
            Name={"GivenName": given_name, "FamilyName": family_name},
            Emails=[{"Value": email, "Type": "work", "Primary": True}],
            **attributes,
        )["UserId"]
        self._on_close(
            lambda: store.delete_user(
                IdentityStoreId=self.endpoint.identity_store_id, UserId=user_id
            )
        )
        user = IdentityUser(str(user_id), name, email, display_name)
        for group in groups:
            self.add_member(group, user)
        if password is not None:
            self.endpoint.set_password(user.user_id, password)
        return user

    def identity_group(
        self, display_name: str | None = None, *, members: Iterable[IdentityUser] = ()
    ) -> IdentityGroup:
        """An identity-store group (CreateGroup) named ``<display_name>-<random>``."""
        name = self.unique(display_name or "group")
        store = self.endpoint.client("identitystore")
        group_id = store.create_group(
            IdentityStoreId=self.endpoint.identity_store_id, DisplayName=name
        )["GroupId"]
        self._on_close(
            lambda: store.delete_group(
                IdentityStoreId=self.endpoint.identity_store_id, GroupId=group_id
            )
        )
        group = IdentityGroup(str(group_id), name)
        for user in members:
            self.add_member(group, user)
        return group

    def add_member(self, group: IdentityGroup, user: IdentityUser) -> None:
        """CreateGroupMembership (deleted with the user or the group)."""
        self.endpoint.client("identitystore").create_group_membership(
            IdentityStoreId=self.endpoint.identity_store_id,
            GroupId=group.group_id,
            MemberId={"UserId": user.user_id},
        )

    # -- iam ----------------------------------------------------------------------------------

    def iam_user(
        self, user_name: str | None = None, *, policies: Mapping[str, Mapping[str, Any]] = {}
    ) -> IamUser:
        """An IAM user with one access key and these inline policies (name to document)."""
        name = self.unique(user_name or "principal")
        iam = self.endpoint.client("iam")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        key = iam.create_access_key(UserName=name)["AccessKey"]

        def delete() -> None:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            for policy_name in policies:
                iam.delete_user_policy(UserName=name, PolicyName=policy_name)
            iam.delete_user(UserName=name)

        self._on_close(delete)
        for policy_name, document in policies.items():
            iam.put_user_policy(
                UserName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
        return IamUser(str(arn), name, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))

    # -- trusted token issuers ----------------------------------------------------------------

    def trusted_issuer(
        self,
        name: str | None = None,
        *,
        alg: str = "ES256",
        claim_attribute_path: str = "email",
        identity_store_attribute_path: str = "emails.value",
    ) -> TrustedIssuer:
        """A new test identity provider, registered as a trusted token issuer."""
        if self.issuer_host is None:
            raise RuntimeError("no IssuerHost serves test identity providers here")
        issuer = TrustedIssuer.register(
            self.endpoint,
            self.issuer_host,
            self.unique(name or "issuer"),
            alg=alg,
            claim_attribute_path=claim_attribute_path,
            identity_store_attribute_path=identity_store_attribute_path,
        )
        self._on_close(issuer.delete)
        return issuer

    @property
    def default_issuer(self) -> TrustedIssuer:
        """The issuer of this test (made on first use): what ``tip_application`` trusts for
        jwt-bearer unless told otherwise."""
        if self._default_issuer is None:
            self._default_issuer = self.trusted_issuer()
        return self._default_issuer

    # -- applications -------------------------------------------------------------------------

    def tip_application(
        self,
        name: str | None = None,
        *,
        grants: Sequence[str] = ("jwt-bearer", "refresh_token"),
        scopes: Iterable[str] | Mapping[str, Iterable[Target]] = (),
        authorized_targets: Iterable[Target] = (),
        assignment_required: bool = False,
        assignments: Iterable[Principal] = (),
        callers: Iterable[str | IamUser] = (),
        issuer: TrustedIssuer | None = None,
        audiences: Iterable[str] | None = None,
        redirect_uris: Iterable[str] | None = None,
    ) -> TipApplication:
        """A customer managed application named ``<name>-<random>`` for trusted identity
        propagation, and a new IAM user that its ActorPolicy allows to call
        CreateTokenWithIAM (with ``callers``: more principal ARNs it allows).

        - ``grants``: ``jwt-bearer`` (trusting ``issuer``, by default this test's
          ``trusted_issuer``, for ``audiences``, by default the application's name),
          ``refresh_token``, ``authorization_code`` (``redirect_uris``, by default a loopback
          URI that matches any port) and ``token-exchange``, by short name or grant type.
        - ``scopes``: its access scopes; each authorizes ``authorized_targets`` (applications
          or ARNs that may exchange its tokens), or give a mapping of scope to targets.
        - ``assignment_required`` (False here; AWS's default is True) and ``assignments``
          (users and groups)."""
        unknown = [g for g in grants if g not in GRANT_NAMES]
        if unknown:
            raise ValueError(f"unknown grant {unknown[0]!r}; one of {sorted(GRANT_NAMES)}")
        grant_types = list(dict.fromkeys(GRANT_NAMES[g] for g in grants))
        app_name = self.unique(name or "app")
        caller = self.iam_user(f"{app_name}-caller"[:50])
        admin = self.endpoint.client("sso-admin")
        arn = str(
            admin.create_application(
                InstanceArn=self.endpoint.instance_arn,
                Name=app_name,
                ApplicationProviderArn=CUSTOM_PROVIDER,
            )["ApplicationArn"]
        )
        self._on_close(lambda: admin.delete_application(ApplicationArn=arn))
        audience_list = list(audiences) if audiences is not None else [app_name]
        uris = tuple(redirect_uris) if redirect_uris is not None else (DEFAULT_REDIRECT_URI,)
        trusted = None
        for grant_type in grant_types:
            grant: dict[str, Any]
            if grant_type == JWT_BEARER:
                trusted = issuer or self.default_issuer
                grant = {
                    "JwtBearer": {
                        "AuthorizedTokenIssuers": [
                            {
                                "TrustedTokenIssuerArn": trusted.arn,
                                "AuthorizedAudiences": audience_list,
                            }
                        ]
                    }
                }
            elif grant_type == REFRESH_TOKEN:
                grant = {"RefreshToken": {}}
            elif grant_type == AUTHORIZATION_CODE:
                grant = {"AuthorizationCode": {"RedirectUris": list(uris)}}
            else:
                grant = {"TokenExchange": {}}
            admin.put_application_grant(ApplicationArn=arn, GrantType=grant_type, Grant=grant)
        principals = [caller.arn, *(c.arn if isinstance(c, IamUser) else c for c in callers)]
        admin.put_application_authentication_method(
            ApplicationArn=arn,
            AuthenticationMethodType="IAM",
            AuthenticationMethod={
                "Iam": {
                    "ActorPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": principals},
                                "Action": "sso-oauth:CreateTokenWithIAM",
                                "Resource": "*",
                            }
                        ],
                    }
                }
            },
        )
        if isinstance(scopes, Mapping):
            per_scope = {scope: list(targets) for scope, targets in scopes.items()}
        else:
            shared = list(authorized_targets)
            per_scope = {scope: shared for scope in scopes}
        for scope, targets in per_scope.items():
            members: dict[str, Any] = {}
            if targets:
                members["AuthorizedTargets"] = [
                    t.arn if isinstance(t, TipApplication) else t for t in targets
                ]
            admin.put_application_access_scope(ApplicationArn=arn, Scope=scope, **members)
        if not assignment_required:
            admin.put_application_assignment_configuration(
                ApplicationArn=arn, AssignmentRequired=False
            )
        app = TipApplication(
            arn, app_name, audience_list[0], caller, trusted, uris, endpoint=self.endpoint
        )
        for principal in assignments:
            self.assign(app, principal)
        return app

    def assign(self, application: TipApplication | str, principal: Principal) -> None:
        """CreateApplicationAssignment of a user or a group (deleted with either)."""
        self.endpoint.client("sso-admin").create_application_assignment(
            ApplicationArn=application.arn
            if isinstance(application, TipApplication)
            else application,
            PrincipalId=(
                principal.user_id if isinstance(principal, IdentityUser) else principal.group_id
            ),
            PrincipalType="USER" if isinstance(principal, IdentityUser) else "GROUP",
        )

    def iam_role(
        self,
        role_name: str | None = None,
        *,
        trusted: IamUser | TipApplication | str,
        actions: Iterable[str] = ("sts:AssumeRole", "sts:SetContext"),
        policy: Mapping[str, Any] | None = None,
    ) -> IamRole:
        """An IAM role whose trust policy allows ``trusted`` (a principal, an application's
        caller, or an ARN) these ``actions`` (by default assuming it with an identity context),
        with ``policy`` as its inline policy."""
        if isinstance(trusted, TipApplication):
            trusted = trusted.caller
        principal_arn = trusted.arn if isinstance(trusted, IamUser) else trusted
        name = self.unique(role_name or "role")
        iam = self.endpoint.client("iam")
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": principal_arn},
                            "Action": list(actions),
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]

        def delete() -> None:
            if policy is not None:
                iam.delete_role_policy(RoleName=name, PolicyName="role")
            iam.delete_role(RoleName=name)

        self._on_close(delete)
        if policy is not None:
            iam.put_role_policy(RoleName=name, PolicyName="role", PolicyDocument=json.dumps(policy))
        return IamRole(str(arn), name)

    # -- identity-enhanced role sessions -------------------------------------------------------

    def assume_role_with_context(
        self,
        id_token_or_context: str | Mapping[str, Any],
        *,
        caller: IamUser | TipApplication | None = None,
        role: IamRole | None = None,
        session_name: str = "ssooidc-test",
        policy: Mapping[str, Any] | None = None,
        duration_seconds: int | None = None,
    ) -> RoleSession:
        """An identity-enhanced role session: AssumeRole with ``ProvidedContexts`` carrying
        the ``sts:identity_context`` of an ID token, of a CreateTokenWithIAM answer, or the
        context itself, called by ``caller`` (by default an IAM user of this test's own). The
        role is ``role``, or a new one that trusts the caller (``policy`` its inline policy)."""
        context = identity_context(id_token_or_context)
        principal = caller.caller if isinstance(caller, TipApplication) else caller
        if principal is None:
            if self._assumer is None:
                self._assumer = self.iam_user("assumer")
            principal = self._assumer
        if role is None:
            role = self.iam_role(trusted=principal, policy=policy)
        extra: dict[str, Any] = {}
        if duration_seconds is not None:
            extra["DurationSeconds"] = duration_seconds
        answer = self.endpoint.client("sts", principal.credentials).assume_role(
            RoleArn=role.arn,
            RoleSessionName=session_name,
            ProvidedContexts=[
                {"ProviderArn": IDENTITY_CENTER_CONTEXT, "ContextAssertion": context}
            ],
            **extra,
        )
        return RoleSession(
            role.arn,
            str(answer["AssumedRoleUser"]["Arn"]),
            Credentials.from_sts(answer["Credentials"]),
            context,
            endpoint=self.endpoint,
        )
