"""Suite-wide set-up: which store the run uses, checked before any test starts."""

from __future__ import annotations

import pytest

from tests import stores


def pytest_sessionstart(session: pytest.Session) -> None:
    if stores.on_postgresql():
        try:
            stores.check_postgres()
        except Exception as error:
            raise pytest.UsageError(
                f"SSOOIDC_TEST_STORE=postgresql but PostgreSQL at {stores.POSTGRES} "
                f"does not answer: {error}"
            ) from error


def pytest_report_header(config: pytest.Config) -> str:
    return f"ssooidc store: {stores.kind()}"
