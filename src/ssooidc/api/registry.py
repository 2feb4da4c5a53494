"""The control-plane operations: one async function per AWS operation, registered by service
and name; the protocol layer parses, authorizes and renders around them."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ssooidc.services.at_rest import SecretBox
from ssooidc.services.catalog import Catalog
from ssooidc.services.principals import Caller
from ssooidc.store.engine import Store


@dataclass(frozen=True)
class Context:
    """Everything an operation may use: the configuration snapshot the request was authorized
    against, the caller, the store, and the instance's settings."""

    catalog: Catalog
    caller: Caller
    store: Store
    box: SecretBox
    now: float
    region: str
    development: bool
    public_url: str
    request_id: str

    @property
    def instance(self) -> Any:
        return self.catalog.instance


Handler = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]

#: (botocore service name, operation name) -> handler
OPERATIONS: dict[tuple[str, str], Handler] = {}

#: The IAM action prefix of each service (``sso:CreateApplication``).
ACTION_PREFIX = {
    "sso-admin": "sso",
    "identitystore": "identitystore",
    "iam": "iam",
    "sts": "sts",
}


#: Operations that authorize the caller themselves (sts:GetCallerIdentity needs no
#: permission; sts:AssumeRole is decided by the role's trust policy as well).
SELF_AUTHORIZED: set[tuple[str, str]] = set()


def operation(service: str, name: str, *, authorize: bool = True) -> Callable[[Handler], Handler]:
    """Register ``handler`` as ``service``'s operation ``name`` (a name of the service model).

    Unless ``authorize`` is False, the caller's identity policies must allow
    ``<prefix>:<name>`` before the handler runs (explicit Deny wins)."""

    def register(handler: Handler) -> Handler:
        key = (service, name)
        if key in OPERATIONS:
            raise ValueError(f"{service}.{name} is registered twice")
        OPERATIONS[key] = handler
        if not authorize:
            SELF_AUTHORIZED.add(key)
        return handler

    return register


def request_digest(body: dict[str, Any]) -> str:
    """A stable digest of a request's members (for ClientToken idempotency)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@functools.cache
def load_all() -> None:
    """Import every operation module so that their handlers register."""
    from ssooidc.api import (  # noqa: F401
        iam,
        identitystore,
        sso_admin,
        sso_admin_account_assignments,
        sso_admin_applications,
        sso_admin_assignments,
        sso_admin_issuers,
        sso_admin_permission_sets,
        sts,
    )
