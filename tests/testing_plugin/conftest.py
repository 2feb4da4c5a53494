"""The plugin's own tests run pytest inside pytest (``pytester``) against real servers."""

from __future__ import annotations

import pytest

from tests import stores


@pytest.fixture(scope="session")
def ssooidc_database_url() -> str | None:
    """On the suite's PostgreSQL run, the plugin's server gets a new database there too."""
    return stores.POSTGRES if stores.on_postgresql() else None
