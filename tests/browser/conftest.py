"""Fixtures of the browser tests: one Chromium per worker, one server per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    Capture,
    capturing,
    require_chromium,
    serve_browser,
)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def web(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    contexts: list[Any] = []

    def new_context() -> Any:
        context = chromium.new_context(viewport={"width": 900, "height": 720})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    for server, files_arn in serve_browser(tmp_path_factory.mktemp("ssooidc-browser")):
        yield Browser(server, new_context, files_arn)
        for context in contexts:
            context.close()


@pytest.fixture
def capture() -> Iterator[Capture]:
    with capturing() as found:
        yield found
