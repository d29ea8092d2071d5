from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from pytest_httpserver import HTTPServer

from modelcard import loader

from .fakehub import FakeHub

_ENV_PREFIXES = ("DYN_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_OFFLINE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts with no DYN_*/HF_* settings and a private, empty HF cache."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    loader.clear_cache()
    structlog.reset_defaults()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set environment variables for one test; they are restored afterwards."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


@pytest.fixture
def logs() -> Iterator[list[structlog.typing.EventDict]]:
    """Structlog events emitted during the test."""
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture
def hub_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake_hub(hub_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A loopback hub, with HF_ENDPOINT pointing at it."""
    hub = FakeHub(hub_server)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    yield hub
    if hub.fault.stall is not None:
        hub.fault.stall.set()
