"""A live insitu (real uvicorn) for the portal's browser tests, and signing in to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from insitu.config import Settings
from insitu.jobs.inline import InlineBackend
from tests.api.live_server import serve
from tests.fixtures.browser import DESKTOP
from tests.fixtures.processes import free_port


@pytest.fixture
def portal_url(settings: Settings, worker: InlineBackend) -> Iterator[str]:
    """insitu on a live server whose own origin is the portal origin bucket CORS must allow."""
    from insitu.api.app import create_app

    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with serve(create_app(settings.model_copy(update={"portal_origins": [origin]})), port=port):
        yield origin


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh browser contexts (no shared cookies), closed after the test."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, portal_url: str, key: str, *, path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(portal_url + path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
