"""Who signed a request: the caller every signed operation is authorized as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The principal behind a verified SigV4 signature."""

    access_key_id: str
    principal_arn: str  # arn:aws:iam::ACCT:user/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
    account: str
    user_name: str | None = None
    role_arn: str | None = None  # for assumed-role sessions
    session_context: str | None = None
