"""Hub repos through the real huggingface_hub client, against a loopback hub on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from pytest_httpserver import HTTPServer

from modelcard import (
    HubAccessError,
    HubNotFoundError,
    HubOfflineError,
    HubTimeoutError,
    HubUnavailableError,
    ModelCard,
    ModelNotFoundError,
    loader as loader_module,
)

from .fakehub import FakeHub
from .helpers import FIXTURES, ROOT

EventList = list[structlog.typing.EventDict]

MINIMAL = FIXTURES / "minimal-bpe"
HELLO = [18, 20, 3, 1, 17, 21, 22, 2]
TOKEN = "hf_SeCrEtToKeN1234567890abcdef"


def cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()]


def test_download_into_the_standard_cache(fake_hub: FakeHub, tmp_path: Path) -> None:
    """A repo id downloads tokenizer.json and companions into the HF cache layout, not weights."""
    commit = fake_hub.add_dir("Qwen/Qwen2.5-1.5B-Instruct", FIXTURES / "qwen2.5")
    fake_hub.repos["Qwen/Qwen2.5-1.5B-Instruct"].commits[commit]["model.safetensors"] = b"w" * 10
    tok = ModelCard(model="Qwen/Qwen2.5-1.5B-Instruct", tokenizer="fastokens").load()
    assert tok.backend == "fastokens"
    assert tok.encode("Hello<|im_end|>") == [9707, 151645]
    snapshot = tmp_path / "hf-cache" / "models--Qwen--Qwen2.5-1.5B-Instruct" / "snapshots" / commit
    assert tok.source.tokenizer_json == snapshot / "tokenizer.json"
    assert set(tok.source.files) == {
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "generation_config.json",
    }
    assert tok.eos_token_ids == (151645, 151643)
    assert tok.card.revision == commit  # pinned, so a copy of the card loads the same files
    assert tok.source.describe().startswith("hub repo 'Qwen/Qwen2.5-1.5B-Instruct'")
    assert fake_hub.count(filename="model.safetensors") == 0
    assert fake_hub.count(filename="LICENSE.lenml-package") == 0


def test_revision_branch_and_commit(fake_hub: FakeHub) -> None:
    """DYN_REVISION picks a branch or a commit; each gets its own files."""
    main = fake_hub.add_dir("org/model", MINIMAL)
    v2 = fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-punct", ref="v2")
    on_main = ModelCard(model="org/model").load()
    on_v2 = ModelCard(model="org/model", revision="v2").load()
    by_commit = ModelCard(model="org/model", revision=main).load()
    assert on_main.source.commit == main
    assert on_v2.source.commit == v2
    assert on_main.fingerprint == by_commit.fingerprint != on_v2.fingerprint
    assert on_v2.backend == "huggingface"


def test_warm_cache_with_commit_makes_no_request(fake_hub: FakeHub) -> None:
    """Loading a cached commit again touches the network not at all."""
    commit = fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")
    ModelCard(model="org/model").load()
    loader_module.clear_cache()
    before = len(fake_hub.requests)
    tok = ModelCard(model="org/model", revision=commit).load()
    assert len(fake_hub.requests) == before
    assert tok.eos_token_ids == (24, 25)


def test_warm_cache_on_a_branch_only_checks_metadata(fake_hub: FakeHub) -> None:
    """Loading a cached branch again sends HEAD requests only, and downloads nothing."""
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")
    ModelCard(model="org/model").load()
    gets = fake_hub.count("GET")
    loader_module.clear_cache()
    ModelCard(model="org/model").load()
    assert fake_hub.count("GET") == gets


def test_missing_companions_are_remembered(fake_hub: FakeHub) -> None:
    """A companion the repo lacks is asked for once per commit; the cache records its absence."""
    commit = fake_hub.add_dir("org/model", MINIMAL)
    ModelCard(model="org/model").load()
    assert fake_hub.count(filename="config.json") == 1
    loader_module.clear_cache()
    ModelCard(model="org/model", revision=commit).load()
    assert fake_hub.count(filename="config.json") == 1


def test_offline_with_warm_cache(fake_hub: FakeHub, env: Callable[..., None]) -> None:
    """HF_HUB_OFFLINE=1 with a warm cache loads the same card and makes no request."""
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")
    online = ModelCard(model="org/model").load()
    loader_module.clear_cache()
    env(HF_HUB_OFFLINE="1")
    before = len(fake_hub.requests)
    offline = ModelCard(model="org/model").load()
    assert len(fake_hub.requests) == before
    assert offline.fingerprint == online.fingerprint
    assert offline.encode("Hello, world!") == HELLO


def test_unreachable_hub_with_warm_cache(
    fake_hub: FakeHub,
    refused_endpoint: str,
    env: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A branch cached earlier loads from the cache when the hub cannot be reached, quietly."""
    fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")
    online = ModelCard(model="org/model").load()
    loader_module.clear_cache()
    env(HF_ENDPOINT=refused_endpoint)
    cached = ModelCard(model="org/model").load()
    assert cached.source.commit == online.source.commit
    assert cached.encode("Hello, world!") == HELLO
    assert [r for r in caplog.records if r.name.startswith("huggingface_hub")] == []


def test_offline_with_cold_cache(fake_hub: FakeHub, env: Callable[..., None]) -> None:
    """HF_HUB_OFFLINE=1 with nothing cached names the repo, the revision and the fix."""
    fake_hub.add_dir("org/model", MINIMAL)
    env(HF_HUB_OFFLINE="1")
    with pytest.raises(HubOfflineError) as info:
        ModelCard(model="org/model", revision="v1").load()
    message = str(info.value)
    assert "'org/model'" in message
    assert "'v1'" in message
    assert "HF_HUB_OFFLINE" in message
    assert isinstance(info.value, FileNotFoundError)
    assert fake_hub.requests == []


def test_unknown_repo(fake_hub: FakeHub) -> None:
    """A repo the hub does not know is HubNotFoundError, a FileNotFoundError."""
    with pytest.raises(HubNotFoundError, match=r"'org/nope'.*does not exist.*HF_TOKEN") as info:
        ModelCard(model="org/nope").load()
    assert isinstance(info.value, ModelNotFoundError)


def test_unknown_revision(fake_hub: FakeHub) -> None:
    """A revision the repo lacks names DYN_REVISION."""
    fake_hub.add_dir("org/model", MINIMAL)
    with pytest.raises(HubNotFoundError, match=r"revision 'nope'.*DYN_REVISION"):
        ModelCard(model="org/model", revision="nope").load()


def test_repo_without_tokenizer_json(fake_hub: FakeHub) -> None:
    """A repo with no tokenizer.json says so."""
    fake_hub.add_repo("org/slow", {"tokenizer.model": b"sp", "config.json": b"{}"})
    with pytest.raises(HubNotFoundError, match=r"has no tokenizer\.json"):
        ModelCard(model="org/slow").load()


@pytest.mark.parametrize("status", [401, 403])
def test_gated_repo_without_token(fake_hub: FakeHub, status: int) -> None:
    """A gated repo without a valid token is HubAccessError naming HF_TOKEN."""
    fake_hub.add_dir("meta/gated", MINIMAL, gated=status, token=TOKEN)
    with pytest.raises(HubAccessError, match=r"'meta/gated'.*HF_TOKEN") as info:
        ModelCard(model="meta/gated").load()
    assert isinstance(info.value, PermissionError)


def test_gated_repo_with_token(fake_hub: FakeHub, env: Callable[..., None]) -> None:
    """HF_TOKEN, read when loading, is sent to the hub and opens a gated repo."""
    fake_hub.add_dir("meta/gated", MINIMAL, gated=403, token=TOKEN)
    env(HF_TOKEN=TOKEN)
    assert ModelCard(model="meta/gated").load().encode("Hello, world!") == HELLO
    assert f"Bearer {TOKEN}" in fake_hub.authorizations


def test_token_never_leaks(fake_hub: FakeHub, env: Callable[..., None]) -> None:
    """The HF token appears in no log event, error message or inspect output."""
    fake_hub.add_dir("meta/gated", MINIMAL, gated=403, token="the-right-token")
    fake_hub.add_dir("org/model", MINIMAL)
    env(HF_TOKEN=TOKEN)
    seen: list[str] = []
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(HubAccessError) as info:
            ModelCard(model="meta/gated").load()
        seen.append(str(info.value))
        seen.append(repr(info.value.__cause__))
        with pytest.raises(HubNotFoundError) as missing:
            ModelCard(model="org/absent").load()
        seen.append(str(missing.value))
        tok = ModelCard(model="org/model").load()
        seen.append(json.dumps(tok.describe()))
        seen.append(repr(tok.card))
    seen.append(json.dumps(logs, default=str))
    cli = subprocess.run(
        [sys.executable, "-m", "modelcard", "inspect", "--json", "--model", "org/model"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    seen += [cli.stdout, cli.stderr]
    for text in seen:
        assert TOKEN not in text


def test_one_commit_for_all_files(fake_hub: FakeHub) -> None:
    """If the branch moves mid-load, every file still comes from the first resolved commit."""
    first = fake_hub.add_dir("org/model", FIXTURES / "minimal-bpe-chat")
    original = fake_hub._handle

    def move_branch_after_tokenizer(request):  # type: ignore[no-untyped-def]
        response = original(request)
        if request.method == "GET" and request.path.endswith("/tokenizer.json"):
            files = dict(fake_hub.repos["org/model"].commits[first])
            files["generation_config.json"] = b'{"eos_token_id": [4]}'
            fake_hub.add_repo("org/model", files)
        return response

    fake_hub.server.clear_all_handlers()
    fake_hub.server.expect_request(re.compile(".*")).respond_with_handler(
        move_branch_after_tokenizer
    )
    tok = ModelCard(model="org/model").load()
    assert tok.source.commit == first
    assert tok.eos_token_ids == (24, 25)
    assert all(first in str(path) for path in tok.source.files.values())


def test_server_error_then_success(fake_hub: FakeHub) -> None:
    """A 500 on the first try is retried, and the load succeeds."""
    fake_hub.add_dir("org/model", MINIMAL)
    fake_hub.fault.statuses = [500]
    assert ModelCard(model="org/model").load().encode("Hello, world!") == HELLO
    assert fake_hub.fault.statuses == []


def test_persistent_server_error(fake_hub: FakeHub) -> None:
    """A hub that keeps failing gives HubUnavailableError naming repo, status and fix."""
    fake_hub.add_dir("org/model", MINIMAL)
    fake_hub.fault.statuses = [503] * 20
    with pytest.raises(HubUnavailableError, match=r"'org/model'.*'main'.*HTTP 503.*HF_ENDPOINT"):
        ModelCard(model="org/model").load()
    assert fake_hub.fault.statuses == [503] * 16  # four tries, then the error


def test_connection_dropped_mid_download(fake_hub: FakeHub, tmp_path: Path) -> None:
    """A download cut mid-body is resumed or retried, and the cached file is whole."""
    fake_hub.add_dir("org/model", FIXTURES / "gpt2")
    fake_hub.fault.filename = "tokenizer.json"
    fake_hub.fault.drop_after = 100_000
    fake_hub.fault.drops_left = 1
    tok = ModelCard(model="org/model").load()
    assert fake_hub.fault.drops_left == 0
    assert (
        tok.source.tokenizer_json.read_bytes()
        == (FIXTURES / "gpt2" / "tokenizer.json").read_bytes()
    )
    assert tok.encode("Hello world") == [15496, 995]


def test_connection_always_dropped_leaves_no_partial_file(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    """When every attempt is cut, the error is typed and the cache holds no partial file."""
    fake_hub.add_dir("org/model", FIXTURES / "gpt2")
    fake_hub.fault.filename = "tokenizer.json"
    fake_hub.fault.drop_after = 1000
    fake_hub.fault.drops_left = 1000
    with pytest.raises(HubUnavailableError, match="'org/model'"):
        ModelCard(model="org/model", hub_timeout=60).load()
    leftovers = [p for p in cache_files(tmp_path / "hf-cache") if "blobs" in p.parts]
    assert leftovers == []
    fake_hub.fault.drops_left = 0
    tok = ModelCard(model="org/model").load()
    assert tok.encode("Hello world") == [15496, 995]


def test_stalled_server_times_out(fake_hub: FakeHub) -> None:
    """A hub that never answers fails after DYN_HUB_TIMEOUT with HubTimeoutError."""
    fake_hub.add_dir("org/model", MINIMAL)
    fake_hub.fault.stall = threading.Event()
    started = time.monotonic()
    with pytest.raises(HubTimeoutError, match=r"'org/model'.*DYN_HUB_TIMEOUT") as info:
        ModelCard(model="org/model", hub_timeout=1.5).load()
    assert time.monotonic() - started < 10
    assert isinstance(info.value, TimeoutError)


def test_endpoint_that_is_not_a_hub(
    hub_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HF_ENDPOINT that answers without the hub's headers is named as not being a hub."""
    hub_server.expect_request(re.compile(".*")).respond_with_data("a plain web server")
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url_for("/").rstrip("/"))
    with pytest.raises(
        HubUnavailableError, match=r"did not answer as a Hugging Face hub.*HF_ENDPOINT"
    ):
        ModelCard(model="org/model").load()


def test_local_directory_shadows_a_hub_repo(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 'namespace/name' that exists as a local directory loads from it and asks no hub."""
    fake_hub.add_dir("org/model", FIXTURES / "gpt2")
    (tmp_path / "org" / "model").mkdir(parents=True)
    (tmp_path / "org" / "model" / "tokenizer.json").write_bytes(
        (MINIMAL / "tokenizer.json").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    tok = ModelCard(model="org/model").load()
    assert tok.source.kind == "local"
    assert tok.encode("Hello, world!") == HELLO
    assert fake_hub.requests == []


def test_hub_failure_says_no_local_path_exists(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repo the hub lacks, which is no local path either, says both, in case it was a path."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HubNotFoundError, match=r"does not exist.*No local path 'fixtures/gpt3'"):
        ModelCard(model="fixtures/gpt3").load()


def test_env_read_at_import_in_a_fresh_process(fake_hub: FakeHub, tmp_path: Path) -> None:
    """With HF_* set before huggingface_hub is imported, the CLI loads from the loopback hub."""
    commit = fake_hub.add_dir("org/model", MINIMAL)
    environ = dict(os.environ, HF_ENDPOINT=fake_hub.endpoint, HF_HUB_CACHE=str(tmp_path / "c"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelcard",
            "encode",
            "--json",
            "--model",
            "org/model",
            "--tokenizer",
            "fastokens",
            "Hello, world!",
        ],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(result.stdout) == {"ids": HELLO, "backend": "fastokens"}
    assert (
        tmp_path / "c" / "models--org--model" / "snapshots" / commit / "tokenizer.json"
    ).exists()


def test_retries_are_logged_at_info(fake_hub: FakeHub, logs: EventList) -> None:
    """A retried first request logs hub_retry at info with the attempt and the cause."""
    fake_hub.add_dir("org/model", MINIMAL)
    fake_hub.fault.statuses = [503]
    ModelCard(model="org/model").load()
    [retry] = [e for e in logs if e["event"] == "hub_retry"]
    assert (retry["log_level"], retry["attempt"], retry["cause"]) == ("info", 1, "HTTP 503")


# -- the hub client's own messages ----------------------------------------------------------


def hub_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("huggingface_hub")]


@pytest.fixture
def modelcard_level() -> Iterator[Callable[[int], None]]:
    """Set the level of the stdlib 'modelcard' logger for one test."""
    logger = logging.getLogger("modelcard")
    before = logger.level
    yield logger.setLevel
    logger.setLevel(before)


def drop_tokenizer_once(fake_hub: FakeHub) -> None:
    fake_hub.add_dir("org/model", FIXTURES / "gpt2")
    fake_hub.fault.filename = "tokenizer.json"
    fake_hub.fault.drop_after = 100_000
    fake_hub.fault.drops_left = 1


def test_hub_chatter_is_held_back_by_default(
    fake_hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    """The hub client's warning about a resumed download does not reach the app's logging."""
    drop_tokenizer_once(fake_hub)
    ModelCard(model="org/model").load()
    assert fake_hub.fault.drops_left == 0
    assert hub_records(caplog) == []


def test_hub_chatter_shows_when_modelcard_logs_info(
    fake_hub: FakeHub,
    caplog: pytest.LogCaptureFixture,
    modelcard_level: Callable[[int], None],
) -> None:
    """With the modelcard logger at INFO (the CLI's -v), the hub client's messages pass."""
    drop_tokenizer_once(fake_hub)
    modelcard_level(logging.INFO)
    ModelCard(model="org/model").load()
    assert any("Trying to resume download" in m for m in hub_records(caplog))


def test_hub_chatter_of_the_apps_own_calls_passes(
    fake_hub: FakeHub, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """After a modelcard load, the app's own huggingface_hub calls still log as before."""
    from huggingface_hub import hf_hub_download

    drop_tokenizer_once(fake_hub)
    ModelCard(model="org/model").load()
    assert hub_records(caplog) == []
    fake_hub.fault.drops_left = 1
    hf_hub_download(
        "org/model", "tokenizer.json", cache_dir=tmp_path / "app", endpoint=fake_hub.endpoint
    )
    assert fake_hub.fault.drops_left == 0
    assert any("Trying to resume download" in m for m in hub_records(caplog))


# -- an unreachable hub, in a fresh process -------------------------------------------------

LOAD_SCRIPT = """
import sys, threading, time
from modelcard import ModelCard, ModelCardError
started = time.monotonic()
try:
    ModelCard(model="org/model", hub_timeout=float(sys.argv[1])).load()
except ModelCardError as exc:
    print(type(exc).__name__)
    print(round(time.monotonic() - started, 1))
    print(exc)
print(",".join(sorted(t.name for t in threading.enumerate())))
"""


@pytest.fixture
def refused_endpoint() -> str:
    """An endpoint on a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def tls_endpoint(fake_hub: FakeHub) -> str:
    """https:// to the loopback hub, which speaks plain HTTP."""
    return fake_hub.endpoint.replace("http://", "https://")


@pytest.mark.parametrize(
    ("endpoint", "offline", "error", "cause"),
    [
        pytest.param(
            "http://nonexistent.invalid",
            "",
            "HubUnavailableError",
            "the DNS lookup of 'nonexistent.invalid' failed",
            id="dns",
        ),
        pytest.param(
            "refused_endpoint", "", "HubUnavailableError", "refused the connection", id="refused"
        ),
        pytest.param(
            "silent_endpoint",
            "",
            "HubTimeoutError",
            "accepted the connection but sent no answer",
            id="timeout",
        ),
        pytest.param("tls_endpoint", "", "HubUnavailableError", "the TLS handshake", id="tls"),
        pytest.param(
            "refused_endpoint",
            "1",
            "HubOfflineError",
            "HF_HUB_OFFLINE is set",
            id="offline",
        ),
    ],
)
def test_unreachable_hub_fails_at_once_in_one_line(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    endpoint: str,
    offline: str,
    error: str,
    cause: str,
) -> None:
    """With no hub and no cache, load() fails within seconds, naming the cause, leaving no thread.

    Nothing reaches stderr: the hub client's retry messages are held back, and with no
    thread left running nothing can print after load() returns.
    """
    if not endpoint.startswith("http"):
        endpoint = request.getfixturevalue(endpoint)
    environ = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_OFFLINE=offline)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, "1.5"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    name, elapsed, message, threads = result.stdout.splitlines()
    assert name == error
    assert float(elapsed) < 15  # a hang guard; the hub client alone would back off for 23 s
    assert cause in message
    assert message.endswith(f"No local path 'org/model' exists either (in {str(tmp_path)!r}).")
    assert threads == "MainThread"
    assert result.stderr == ""


def test_cli_error_is_one_line(refused_endpoint: str, tmp_path: Path) -> None:
    """The CLI reports an unreachable hub as one line on stderr, with the cause and the fix."""
    environ = dict(os.environ, HF_ENDPOINT=refused_endpoint)
    result = subprocess.run(
        [sys.executable, "-m", "modelcard", "encode", "--model", "org/model", "hi"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("modelcard: error: Could not reach hub repo 'org/model'")
    assert "refused the connection" in line
    assert "HF_ENDPOINT" in line
    assert result.stdout == ""


def test_cli_relative_path_never_asks_the_hub(refused_endpoint: str) -> None:
    """`modelcard encode --model fixtures/gpt2` loads the directory, with no hub in reach."""
    environ = dict(os.environ, HF_ENDPOINT=refused_endpoint)
    result = subprocess.run(
        [sys.executable, "-m", "modelcard", "encode", "--model", "fixtures/gpt2", "Hello world"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert result.stdout == "15496 995\n"
    assert result.stderr == ""
