"""Logging etiquette: never stdout, stdlib logging unless the app configured structlog.

The subprocess tests run a small application script in a fresh interpreter, so nothing
configured by pytest or by other tests is in force. The script triggers the two kinds of
fallback: fastokens refuses bert-base-uncased (``tokenizer_fallback``), and
tiny-bpe-torchtune has no token for a tab, so fifty encodes fall back one call at a time
(``encode_fallback``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from modelcard import ModelCard
from modelcard._log import get_logger

from .helpers import ROOT, fixture_dir

APP = """
import logging, sys
from modelcard import ModelCard
{setup}
refused = ModelCard(model="fixtures/bert-base-uncased", tokenizer="fastokens").load()
tok = ModelCard(model="fixtures/tiny-bpe-torchtune", tokenizer="fastokens").load()
for _ in range(50):
    tok.encode("a\\tb")
print(refused.backend, tok.encode_fallbacks)
{report}
"""


def run_app(setup: str = "", report: str = "", *args: str) -> subprocess.CompletedProcess[str]:
    code = APP.format(setup=setup, report=report)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )


def test_stdout_holds_only_the_apps_output() -> None:
    """With no logging configured, stdout holds only the app's output; warnings go to stderr."""
    result = run_app()
    assert result.stdout == "huggingface 50\n"
    first, second = result.stderr.splitlines()
    assert first.startswith(
        "tokenizer_fallback requested=fastokens selected=huggingface "
        "reason='fastokens implements BPE only; this is a WordPiece model'"
    )
    assert first.endswith("path=" + str(ROOT / "fixtures/bert-base-uncased/tokenizer.json"))
    assert second.startswith("encode_fallback requested=fastokens selected=huggingface reason=")
    assert "count=1 " in second


def test_stdlib_level_silences_modelcard() -> None:
    """logging.getLogger("modelcard").setLevel(logging.ERROR) silences modelcard's warnings."""
    result = run_app('logging.getLogger("modelcard").setLevel(logging.ERROR)')
    assert result.stdout == "huggingface 50\n"
    assert result.stderr == ""


COUNT_RECORDS = """
import collections
counts = collections.Counter()
class Count(logging.Handler):
    def emit(self, record):
        counts[record.levelname, record.getMessage().split()[0]] += 1
logging.getLogger("modelcard").addHandler(Count())
"""


def test_no_event_per_call_by_default() -> None:
    """By default fifty per-call fallbacks create one record, the first one's warning, no debug."""
    result = run_app(COUNT_RECORDS, "print(sorted(counts.items()))")
    assert result.stdout.splitlines()[1] == (
        "[(('WARNING', 'encode_fallback'), 1), (('WARNING', 'tokenizer_fallback'), 1)]"
    )


def test_debug_per_call_is_an_explicit_opt_in() -> None:
    """An app that asks for DEBUG gets a debug record for each repeated per-call fallback."""
    result = run_app("logging.basicConfig(level=logging.DEBUG)")
    repeats = [
        line for line in result.stderr.splitlines() if line.startswith("DEBUG:modelcard:encode_")
    ]
    assert len(repeats) == 49
    assert "count=50 " in repeats[-1]


STRUCTLOG_APP = """
import structlog
structlog.configure(
    processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
    wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    logger_factory=structlog.PrintLoggerFactory(open(sys.argv[1], "w")),
)
"""


def test_apps_structlog_configuration_is_used(tmp_path: Path) -> None:
    """An app that configures structlog (after importing modelcard) gets the events its way."""
    events_file = tmp_path / "events.jsonl"
    result = run_app(STRUCTLOG_APP, "", str(events_file))
    assert result.stdout == "huggingface 50\n"
    assert result.stderr == ""
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [(e["event"], e["level"]) for e in events] == [
        ("tokenizer_fallback", "warning"),
        ("encode_fallback", "warning"),
    ]
    assert events[0]["requested"] == "fastokens"
    assert events[0]["selected"] == "huggingface"
    assert events[0]["path"] == str(ROOT / "fixtures/bert-base-uncased/tokenizer.json")
    assert events[1]["count"] == 1


def test_stdlib_record_carries_the_event_data(caplog: pytest.LogCaptureFixture) -> None:
    """Without structlog configured, an event is a 'modelcard' record with its data attached."""
    with caplog.at_level(logging.WARNING, logger="modelcard"):
        ModelCard(model=fixture_dir("bert-base-uncased"), tokenizer="fastokens").load()
    [record] = [r for r in caplog.records if r.name == "modelcard"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["event"] == "tokenizer_fallback"
    assert record.__dict__["requested"] == "fastokens"
    assert record.__dict__["selected"] == "huggingface"
    assert record.module != "_log"  # the record names the module that logged


def test_data_named_like_a_record_attribute_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    """Data under a LogRecord attribute's name is in the message and in a renamed attribute."""
    with caplog.at_level(logging.INFO, logger="modelcard"):
        get_logger().info("example", filename="a.json", files=["x", "y"], reason="two words")
    [record] = caplog.records
    assert record.getMessage() == "example filename=a.json files=['x', 'y'] reason='two words'"
    assert record.__dict__["filename_"] == "a.json"
    assert record.filename == "test_logging.py"


def test_capture_logs_sees_modelcard_events() -> None:
    """structlog.testing.capture_logs() captures modelcard's events, structured."""
    import structlog

    with structlog.testing.capture_logs() as logs:
        ModelCard(model=fixture_dir("bert-base-uncased"), tokenizer="fastokens").load()
    [event] = [e for e in logs if e["event"] == "tokenizer_fallback"]
    assert (event["log_level"], event["requested"]) == ("warning", "fastokens")
