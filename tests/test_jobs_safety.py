"""tokenize writes OUTPUT whole or not at all: failures, Ctrl-C, leftovers, missing packages."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import structlog

from modelcard import ModelCard
from modelcard.jobs import JobSettings, RecordError, tokenize

from .helpers import ROOT, chat_texts, fixture_dir

PYTHON = sys.executable


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        for text in texts:
            file.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return path


def run(source: Path, output: Path, **settings: Any) -> dict[str, Any]:
    settings.setdefault("workers", 1)
    card = ModelCard(model=fixture_dir("gpt2"), tokenizer="fastokens")
    return tokenize(card, JobSettings(input=source, output=output, **settings))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def siblings(output: Path) -> list[str]:
    """What lies beside OUTPUT, other than OUTPUT and the input."""
    return sorted(p.name for p in output.parent.iterdir() if p.name not in (output.name, "in"))


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([PYTHON, "-c", "pass"])
    child.wait()
    return child.pid


def test_failed_job_leaves_the_earlier_output_as_it_was(tmp_path: Path) -> None:
    """With --overwrite, a job that fails half-way leaves the earlier run's OUTPUT intact."""
    good = write_jsonl(tmp_path / "in" / "a.jsonl", ["first run"])
    run(good, tmp_path / "out")
    before = snapshot(tmp_path / "out")
    texts = chat_texts()
    bad = tmp_path / "in" / "b.jsonl"
    write_jsonl(bad, texts)
    with open(bad, "a", encoding="utf-8") as file:
        file.write('{"text": "cut off\n')
    with pytest.raises(RecordError, match=rf"b\.jsonl line {len(texts) + 1}"):
        run(bad, tmp_path / "out", overwrite=True, chunk_bytes=1024)
    assert snapshot(tmp_path / "out") == before
    assert siblings(tmp_path / "out") == []


def test_output_appears_whole(tmp_path: Path) -> None:
    """A finished job's OUTPUT holds the shards and the manifest, and nothing is left beside it."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", chat_texts())
    (tmp_path / "out").mkdir()  # an empty folder is taken as it is
    manifest = run(source, tmp_path / "out", chunk_bytes=2048)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["_manifest.json", *manifest["shards"]])
    assert manifest["output"] == str((tmp_path / "out").resolve())
    assert (
        sum(pq.read_metadata(tmp_path / "out" / s).num_rows for s in manifest["shards"])
        == (manifest["rows"])
    )
    assert siblings(tmp_path / "out") == []


def test_rerun_after_a_killed_job_cleans_its_leftovers(tmp_path: Path) -> None:
    """A killed job's folder beside OUTPUT is removed by the next run; a live one's is kept."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", ["hello"])
    host = socket.gethostname()
    killed = tmp_path / f".out.tokenize-{host}-{dead_pid()}-0123abcd"
    killed.mkdir()
    (killed / "part-000000.parquet").write_bytes(b"half a shard")
    running = tmp_path / f".out.tokenize-{host}-{os.getppid()}-89abcdef"
    running.mkdir()
    elsewhere = tmp_path / f".out.tokenize-{host}x-{dead_pid()}-00000000"
    elsewhere.mkdir()
    manifest = run(source, tmp_path / "out")
    assert manifest["rows"] == 1
    assert not killed.exists()
    assert running.exists()  # its job may still be running
    assert elsewhere.exists()  # another host's: its pid says nothing here


def test_more_workers_than_cores_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers above the CPU count runs, with a workers_exceed_cores warning."""
    from modelcard.jobs import local_engine

    monkeypatch.setattr(local_engine, "available_cpus", lambda: 1)
    source = write_jsonl(tmp_path / "in" / "a.jsonl", ["hello", "world"])
    with structlog.testing.capture_logs() as logs:
        manifest = run(source, tmp_path / "out", workers=2)
    assert manifest["workers"] == 2
    assert {
        "event": "workers_exceed_cores",
        "requested": 2,
        "cores": 1,
        "log_level": "warning",
    } in (logs)


# -- Ctrl-C -------------------------------------------------------------------------------

INTERRUPTED = """
import sys
from pathlib import Path
from modelcard import ModelCard
from modelcard.jobs import JobSettings, tokenize

if __name__ == "__main__":
    # HF tokenizers: slow enough that the job is still running when SIGINT comes.
    card = ModelCard(model=sys.argv[1], tokenizer="default")
    settings = JobSettings(
        input=Path(sys.argv[2]), output=Path(sys.argv[3]), engine=sys.argv[4], workers=2,
        chunk_bytes=65536, overwrite=True, progress=False,
    )
    try:
        tokenize(card, settings)
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)
    print("finished")
"""


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the job's workers inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes in /proc")
@pytest.mark.parametrize(
    ("engine", "earlier"),
    [
        pytest.param("local", False, id="local-new-output"),
        pytest.param("local", True, id="local-earlier-output"),
        pytest.param("ray", True, id="ray-earlier-output"),
    ],
)
def test_ctrl_c_leaves_output_untouched(tmp_path: Path, engine: str, earlier: bool) -> None:
    """SIGINT mid-job: KeyboardInterrupt, no worker or Ray process left, OUTPUT as it was."""
    if engine == "ray":
        pytest.importorskip("ray")
    texts = [f"{n}: {text}" for n in range(80) for text in chat_texts()]
    source = write_jsonl(tmp_path / "in" / "big.jsonl", texts)
    output = tmp_path / "out"
    before = None
    if earlier:  # what an earlier run left, as far as --overwrite can tell
        output.mkdir()
        (output / "_manifest.json").write_text('{"job": "tokenize"}', encoding="utf-8")
        (output / "part-000000.parquet").write_bytes(b"an earlier shard")
        before = snapshot(output)
    script = tmp_path / "job.py"
    script.write_text(INTERRUPTED, encoding="utf-8")
    marker = f"MODELCARD_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1"}
    child = subprocess.Popen(
        [PYTHON, str(script), fixture_dir("gpt2"), str(source), str(output), engine],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Interrupt once the workers are writing: a shard in the job's hidden folder.
    while not list(tmp_path.glob(".out.tokenize-*/part-*.parquet")):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out.strip().splitlines()[-1]) == (130, "interrupted"), err
    assert "Traceback" not in err
    if before is None:
        assert not output.exists()
    else:
        assert snapshot(output) == before
    assert siblings(output) == ["job.py"]
    assert processes_with(marker) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes in /proc")
def test_a_ray_job_stops_every_process_of_the_ray_it_started(tmp_path: Path) -> None:
    """A finished job on a Ray it started leaves no Ray process (its monitor included)."""
    pytest.importorskip("ray")
    source = write_jsonl(tmp_path / "in" / "a.jsonl", chat_texts())
    script = tmp_path / "job.py"
    script.write_text(INTERRUPTED, encoding="utf-8")
    marker = f"MODELCARD_TEST_{uuid.uuid4().hex}"
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    result = subprocess.run(
        [PYTHON, str(script), fixture_dir("gpt2"), str(source), str(tmp_path / "out"), "ray"],
        env={**env, marker: "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().splitlines()[-1] == "finished", result.stderr
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == len(chat_texts())
    assert processes_with(marker) == []


# -- missing packages ---------------------------------------------------------------------

BLOCKER = """
import importlib.abc
import sys

BLOCKED = {blocked!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""


def without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment whose Python processes (and their children) cannot import ``modules``."""
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(modules)), encoding="utf-8")
    path = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize(
    ("blocked", "engine", "extra"),
    [
        pytest.param("pyarrow", "local", "modelcard[jobs]", id="pyarrow"),
        pytest.param("tqdm", "local", "modelcard[jobs]", id="tqdm"),
        pytest.param("ray", "ray", "modelcard[ray]", id="ray"),
    ],
)
def test_missing_package_names_the_extra(
    tmp_path: Path, blocked: str, engine: str, extra: str
) -> None:
    """Without pyarrow, tqdm or ray, tokenize fails in one line naming the pip extra."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", ["hello"])
    command = [PYTHON, "-m", "modelcard", "tokenize", str(source), str(tmp_path / "out")]
    command += ["--model", fixture_dir("gpt2"), "--engine", engine, "--workers", "1"]
    result = subprocess.run(
        command, env=without(tmp_path, blocked), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert f'pip install "{extra}"' in result.stderr
    assert blocked in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert "memory" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_package_is_a_typed_error(tmp_path: Path) -> None:
    """From Python, a missing pyarrow is MissingDependencyError, an ImportError."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", ["hello"])
    code = (
        "from pathlib import Path\n"
        "from modelcard import ModelCard\n"
        "from modelcard.jobs import JobSettings, MissingDependencyError, tokenize\n"
        "try:\n"
        f"    tokenize(ModelCard(model={fixture_dir('gpt2')!r}), JobSettings(\n"
        f"        input=Path({str(source)!r}), output=Path({str(tmp_path / 'out')!r})))\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, isinstance(exc, MissingDependencyError))\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], env=without(tmp_path, "pyarrow"), capture_output=True, text=True
    )
    assert result.stdout.split() == ["MissingDependencyError", "True"], result.stderr


# -- what a worker imports ----------------------------------------------------------------

WORKER = """
import json, sys
from pathlib import Path
from modelcard import ModelCard
from modelcard.jobs.inputs import iter_tasks, list_inputs
from modelcard.jobs.settings import JobSettings
from modelcard.jobs.worker import load_tokenizer, write_shard

settings = JobSettings(input=Path(sys.argv[1]), output=Path(sys.argv[2]))
files = list_inputs(settings.input)[0]
task = next(iter_tasks(files, chunk_bytes=4096, field="text", chat=False))
tok, info = load_tokenizer(ModelCard(model=sys.argv[3], tokenizer="fastokens"), chat=False)
Path(sys.argv[2]).mkdir()
result = write_shard(tok, task, settings, Path(sys.argv[2]), "part-000000.parquet")
print(json.dumps([result.rows, sorted(sys.modules)]))
"""


def test_a_worker_imports_only_what_it_needs(tmp_path: Path) -> None:
    """Encoding a task imports neither tqdm, Ray, pandas nor the CLI."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", ["hello", "world"])
    result = subprocess.run(
        [PYTHON, "-c", WORKER, str(source), str(tmp_path / "out"), fixture_dir("gpt2")],
        capture_output=True,
        text=True,
        check=True,
    )
    rows, modules = json.loads(result.stdout)
    assert rows == 2
    unwanted = {"tqdm", "ray", "pandas", "modelcard.cli", "modelcard.jobs.ray_engine"}
    assert unwanted.isdisjoint(modules)
