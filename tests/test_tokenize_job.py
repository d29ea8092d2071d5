"""modelcard tokenize: the same ids as a plain encode loop, on both engines; bad records."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelcard import ChatTemplateError, FingerprintMismatchError, ModelCard, Tokenizer
from modelcard.cli import main
from modelcard.jobs import JobError, JobSettings, RecordError, tokenize
from modelcard.jobs.inputs import iter_jsonl_chunks, list_inputs
from modelcard.jobs.progress import Progress

from .helpers import TEXTS, chat_messages, fixture_dir

Row = tuple[str, int, list[int]]

CARDS = [
    # Served by fastokens, and by HF after fastokens refuses the file (WordPiece).
    pytest.param("qwen2.5", "fastokens", "fastokens", id="qwen2.5-fastokens"),
    pytest.param("bert-base-uncased", "fastokens", "huggingface", id="bert-hf"),
]


def card(name: str, tokenizer: str = "fastokens") -> ModelCard:
    return ModelCard(model=fixture_dir(name), tokenizer=tokenizer)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real text: JSONL at two depths and a Parquet file of two row groups."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copy(TEXTS / "adversarial-sample.jsonl", root / "adversarial.jsonl")
    messages = [m["content"] for conv in chat_messages() for m in conv]
    write_jsonl(root / "chat" / "messages.jsonl", [{"text": t} for t in messages])
    multilingual = sorted((TEXTS / "multilingual").glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in multilingual]
    table = pa.table({"id": list(range(len(texts))), "text": texts})
    pq.write_table(table, root / "multilingual.parquet", row_group_size=5)
    (root / "README.md").write_text("not input\n", encoding="utf-8")
    return root


def expected_rows(tok: Tokenizer, root: Path, field: str = "text") -> list[Row]:
    """What a plain loop of encode() gives, file by file in sorted order, line by line."""
    rows: list[Row] = []
    files = sorted(p for p in root.rglob("*") if p.suffix in (".jsonl", ".parquet"))
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        source = path.relative_to(root).as_posix()
        if path.suffix == ".parquet":
            values = pq.read_table(path, columns=[field]).column(0).to_pylist()
        else:
            # Not splitlines(): JSON strings may hold U+2028 and other line separators raw.
            lines = path.read_bytes().split(b"\n")
            values = [json.loads(line)[field] for line in lines if line]
        rows += [(source, number, tok.encode(v)) for number, v in enumerate(values, 1)]
    return rows


def output_rows(output: Path) -> list[Row]:
    """Every output row, shards read in name order."""
    rows: list[Row] = []
    for shard in sorted(output.glob("*.parquet")):
        table = pq.read_table(shard)
        assert table.schema.field("ids").type.value_type == pa.uint32()
        for record in table.to_pylist():
            assert record["num_tokens"] == len(record["ids"])
            rows.append((record["source"], record["row"], record["ids"]))
    return rows


def run(input_path: Path, output: Path, model: ModelCard, **settings: Any) -> dict[str, Any]:
    settings.setdefault("workers", 1)
    return tokenize(model, JobSettings(input=input_path, output=output, **settings))


def errors_report(output: Path) -> list[dict[str, Any]]:
    lines = (output / "_errors.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def edited_after_load(tmp_path: Path) -> tuple[ModelCard, Path]:
    """A card pinned by loading it, whose tokenizer_config.json then changes on disk."""
    folder = tmp_path / "model"
    shutil.copytree(fixture_dir("qwen2.5"), folder)
    pinned = ModelCard(model=str(folder), tokenizer="fastokens").load().card
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = 1234
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    source = write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "hello"}])
    return pinned, source


BAD_LINES = [
    {"text": "good one"},
    '{"text": "cut off", ',
    "",
    "[1, 2, 3]",
    {"body": "wrong field"},
    {"text": 42},
    {"text": None},
    {"text": "good two"},
]
BAD_KINDS = {
    2: "malformed_json",
    4: "not_an_object",
    5: "missing_field",
    6: "not_a_string",
    7: "not_a_string",
}


# -- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [1, 7, 4096])
def test_jsonl_chunks_are_whole_lines_with_their_numbers(chunk_bytes: int) -> None:
    """Chunks are runs of whole lines that add up to the file, each with its first line number."""
    data = (
        b'{"text": "a"}\n\n{"text": "b"}\r\n'
        + '{"text": "raw \u2028 separator"}\n'.encode()
        + b'{"text": "no newline"}'
    )
    spans = list(iter_jsonl_chunks(io.BytesIO(data), chunk_bytes))
    chunks = [data[offset : offset + length] for _, offset, length in spans]
    assert b"".join(chunks) == data
    line = 1
    for (first, _, _), chunk in zip(spans, chunks, strict=True):
        assert first == line
        line += chunk.count(b"\n")
    assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])
    # The last line lacks a newline: it rides with the line before it, not alone.
    assert chunks[-1].endswith(b'separator"}\n{"text": "no newline"}')


# -- local engine -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "requested", "backend"), CARDS)
def test_local_engine_equals_encode_loop(
    corpus: Path, tmp_path: Path, name: str, requested: str, backend: str
) -> None:
    """Two workers over many small tasks write, in input order, the ids of an encode loop."""
    model = card(name, requested)
    tok = model.load()
    manifest = run(corpus, tmp_path / "out", model, workers=2, chunk_bytes=4096, batch_rows=3)
    expected = expected_rows(tok, corpus)
    assert output_rows(tmp_path / "out") == expected
    assert len(manifest["shards"]) > 5
    assert manifest["backend"] == backend
    assert manifest["fingerprint"] == tok.fingerprint
    assert manifest["card"]["fingerprint"] == tok.fingerprint
    assert manifest["rows"] == len(expected)
    assert manifest["tokens"] == sum(len(ids) for _, _, ids in expected)
    assert manifest["skipped"] == 0
    assert manifest["ignored_files"] == ["README.md"]
    assert [f["source"] for f in manifest["files"]] == [
        "adversarial.jsonl",
        "chat/messages.jsonl",
        "multilingual.parquet",
    ]
    on_disk = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest


def test_one_worker_writes_the_same_shards_as_two(corpus: Path, tmp_path: Path) -> None:
    """Shards are cut by input position, so the worker count does not change the output."""
    model = card("gpt2")
    one = run(corpus, tmp_path / "one", model, workers=1, chunk_bytes=8192)
    two = run(corpus, tmp_path / "two", model, workers=2, chunk_bytes=8192)
    assert one["shards"] == two["shards"]
    assert output_rows(tmp_path / "one") == output_rows(tmp_path / "two")


SPAWNED_WORKERS = """
import sys
from pathlib import Path

import numpy  # starts a thread in every process that imports this module, the loader too

from modelcard import ModelCard
from modelcard.jobs import JobSettings, tokenize

if __name__ == "__main__":
    settings = JobSettings(
        input=Path(sys.argv[2]), output=Path(sys.argv[3]), workers=2, chunk_bytes=4096
    )
    tokenize(ModelCard(model=sys.argv[1], tokenizer="fastokens"), settings)
"""


def test_workers_that_cannot_be_forked_are_spawned(corpus: Path, tmp_path: Path) -> None:
    """A job whose main module imports numpy (a thread: no fork) writes the same ids."""
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(SPAWNED_WORKERS, encoding="utf-8")
    model = card("qwen2.5")
    command = [sys.executable, str(script), model.model, str(corpus), str(tmp_path / "out")]
    subprocess.run(command, check=True, capture_output=True, cwd=tmp_path)
    assert output_rows(tmp_path / "out") == expected_rows(model.load(), corpus)
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["worker_start"] == "spawn"


def test_the_command_forks_its_workers_from_one_card_load(corpus: Path, tmp_path: Path) -> None:
    """`modelcard tokenize` (one thread in its loader) forks the workers from one load."""
    import subprocess
    import sys

    model = card("qwen2.5")
    command = [sys.executable, "-m", "modelcard", "tokenize", str(corpus), str(tmp_path / "out")]
    command += ["--model", model.model, "--tokenizer", "fastokens", "--workers", "2"]
    command += ["--chunk-bytes", "4096", "--no-progress"]
    subprocess.run(command, check=True, capture_output=True, cwd=tmp_path)
    assert output_rows(tmp_path / "out") == expected_rows(model.load(), corpus)
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert (manifest["worker_start"], manifest["workers"]) == ("fork", 2)


def test_chat_records_are_rendered_with_the_template(tmp_path: Path) -> None:
    """--chat encodes each conversation as apply_chat_template renders it, no generation prompt."""
    model = card("qwen2.5")
    tok = model.load()
    manifest = run(TEXTS / "chat-sample.jsonl", tmp_path / "out", model, chat=True)
    expected = [
        (
            "chat-sample.jsonl",
            n,
            tok.encode(tok.apply_chat_template(m, add_generation_prompt=False)),
        )
        for n, m in enumerate(chat_messages(), 1)
    ]
    assert output_rows(tmp_path / "out") == expected
    assert manifest["settings"]["field"] == "messages"


def test_chat_needs_a_template(tmp_path: Path) -> None:
    """--chat with a card that has no chat template fails before anything is written."""
    with pytest.raises(ChatTemplateError, match="--chat"):
        run(TEXTS / "chat-sample.jsonl", tmp_path / "out", card("gpt2"), chat=True)
    assert not (tmp_path / "out").exists()


def test_bad_records_are_skipped_and_reported(tmp_path: Path) -> None:
    """--on-error skip leaves bad lines out, lists each with its line and kind, and counts them."""
    source = write_jsonl(tmp_path / "in" / "bad.jsonl", BAD_LINES)
    model = card("gpt2")
    tok = model.load()
    manifest = run(source, tmp_path / "out", model, on_error="skip")
    assert output_rows(tmp_path / "out") == [
        ("bad.jsonl", 1, tok.encode("good one")),
        ("bad.jsonl", 8, tok.encode("good two")),
    ]
    report = errors_report(tmp_path / "out")
    assert {r["row"]: r["kind"] for r in report} == BAD_KINDS
    assert all(r["source"] == "bad.jsonl" and r["reason"] for r in report)
    assert manifest["skipped"] == 5
    assert manifest["skipped_by_kind"] == {
        "malformed_json": 1,
        "missing_field": 1,
        "not_a_string": 2,
        "not_an_object": 1,
    }
    assert manifest["blank_lines"] == 1
    assert manifest["errors_report"] == "_errors.jsonl"


def test_bad_record_stops_the_job(tmp_path: Path) -> None:
    """--on-error fail (the default) raises on the first bad line, naming file and line."""
    source = write_jsonl(tmp_path / "in" / "bad.jsonl", BAD_LINES)
    with pytest.raises(RecordError, match=r"bad\.jsonl line 2: malformed JSON") as caught:
        run(source, tmp_path / "out", card("gpt2"))
    assert caught.value.record.row == 2
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_unencodable_text_is_a_bad_record(tmp_path: Path) -> None:
    """A string no backend can encode (a lone surrogate) is skipped as kind 'encode'; the
    other records of its batch keep the ids encode() gives them."""
    lines = ['{"text": "ok"}', '{"text": "\\ud800"}', '{"text": "fine, thanks"}']
    source = write_jsonl(tmp_path / "in" / "s.jsonl", lines)
    model = card("gpt2", "default")
    manifest = run(source, tmp_path / "out", model, on_error="skip")
    assert [(r["row"], r["kind"]) for r in errors_report(tmp_path / "out")] == [(2, "encode")]
    tok = model.load()
    assert output_rows(tmp_path / "out") == [
        ("s.jsonl", 1, tok.encode("ok")),
        ("s.jsonl", 3, tok.encode("fine, thanks")),
    ]
    assert manifest["rows"] == 2


def test_parquet_rows_are_numbered_across_row_groups(tmp_path: Path) -> None:
    """Parquet rows keep their 1-based position across row groups; a null is reported."""
    texts = [f"text number {i}" for i in range(10)]
    texts[6] = None  # type: ignore[call-overload]
    pq.write_table(pa.table({"body": texts}), tmp_path / "t.parquet", row_group_size=4)
    model = card("gpt2")
    tok = model.load()
    manifest = run(tmp_path / "t.parquet", tmp_path / "out", model, field="body", on_error="skip")
    expected = [("t.parquet", i + 1, tok.encode(t)) for i, t in enumerate(texts) if t is not None]
    assert output_rows(tmp_path / "out") == expected
    assert errors_report(tmp_path / "out") == [
        {
            "source": "t.parquet",
            "row": 7,
            "kind": "not_a_string",
            "reason": "field 'body' is null, not a string",
        }
    ]
    assert manifest["rows"] == 9


def test_parquet_without_the_column_fails(tmp_path: Path) -> None:
    """A Parquet file without the --field column fails the job whatever --on-error says."""
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "t.parquet")
    with pytest.raises(JobError, match="no column 'text'"):
        run(tmp_path / "t.parquet", tmp_path / "out", card("gpt2"), on_error="skip")


def test_worker_finding_other_files_stops_the_job(tmp_path: Path) -> None:
    """Files changed after the card was pinned make the workers' load fail the job."""
    pinned, source = edited_after_load(tmp_path)
    with pytest.raises(FingerprintMismatchError, match="changed since the card was created"):
        run(source, tmp_path / "out", pinned)
    assert not (tmp_path / "out").exists()


def test_output_with_other_files_is_refused(tmp_path: Path) -> None:
    """A non-empty OUTPUT needs --overwrite, which never removes files the job did not write."""
    source = write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "a"}])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(JobError, match="not empty"):
        run(source, tmp_path / "out", card("gpt2"))
    with pytest.raises(JobError, match="did not write"):
        run(source, tmp_path / "out", card("gpt2"), overwrite=True)
    assert (tmp_path / "out" / "notes.txt").exists()


def test_cli_tokenize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI runs the job with the card's flags, prints the manifest, exits 1 on a bad line."""
    source = write_jsonl(tmp_path / "in" / "bad.jsonl", BAD_LINES)
    args = ["--model", fixture_dir("gpt2"), "--workers", "1", "--no-progress"]
    code = main(
        ["tokenize", str(source), str(tmp_path / "out"), *args, "--on-error", "skip", "--json"]
    )
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert (manifest["rows"], manifest["skipped"], manifest["workers"]) == (2, 5, 1)
    code = main(["tokenize", str(source), str(tmp_path / "again"), *args])
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.jsonl line 2: malformed JSON" in err
    assert "--on-error skip" in err


# -- Ray engine ---------------------------------------------------------------------------


def test_a_preloaded_card_serves_the_tasks_that_pin_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ray worker's preloaded card is reused by tasks pinning the same files, not others."""
    from modelcard.jobs import worker

    monkeypatch.setattr(worker, "_LOADED", {})
    monkeypatch.setattr(worker, "setup_worker_process", lambda: None)
    model = card("gpt2")
    assert worker.preload_tokenizer(pickle.dumps(model))
    preloaded = next(iter(worker._LOADED.values()))
    pinned = model.load().card
    assert worker.loaded_tokenizer(pickle.dumps(pinned), chat=False) is preloaded
    other = pinned.model_copy(update={"fingerprint": "sha256:" + "0" * 64})
    with pytest.raises(FingerprintMismatchError):
        worker.loaded_tokenizer(pickle.dumps(other), chat=False)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray with 2 CPUs for this module's Ray tests, shut down after them."""
    pytest.importorskip("ray")
    import ray

    saved = dict(os.environ)  # ray.init sets RAY_* and PYTHONBREAKPOINT in this process
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    os.environ.clear()
    os.environ.update(saved)


def test_a_worker_load_serves_chat_and_plain_jobs_and_fails_only_its_own_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ray worker keeps one load for jobs with and without --chat; a failed load fails
    the rest of its job without loading again, and a later job loads the card anew."""
    from modelcard.jobs import worker

    monkeypatch.setattr(worker, "_LOADED", {})
    monkeypatch.setattr(worker, "_FAILED", {})
    monkeypatch.setattr(worker, "setup_worker_process", lambda: None)
    plain = pickle.dumps(card("gpt2").load().card)  # gpt2 has no chat template
    with pytest.raises(ChatTemplateError, match="--chat"):
        worker.loaded_tokenizer(plain, chat=True, job="chat job")
    assert worker.loaded_tokenizer(plain, chat=False, job="plain job").encode("hello") == [31373]

    pinned, _ = edited_after_load(tmp_path)  # its files changed after it was pinned
    loads: list[ModelCard] = []
    original = worker.load_tokenizer

    def counted(card: ModelCard, *, chat: bool) -> tuple[Tokenizer, Any]:
        loads.append(card)
        return original(card, chat=chat)

    monkeypatch.setattr(worker, "load_tokenizer", counted)
    for job in ("first", "first", "second"):
        with pytest.raises(FingerprintMismatchError):
            worker.loaded_tokenizer(pickle.dumps(pinned), chat=False, job=job)
    assert len(loads) == 2  # once for each job, not for the first job's second task


@pytest.mark.usefixtures("local_ray")
@pytest.mark.parametrize(("name", "requested", "backend"), CARDS)
def test_ray_engine_equals_encode_loop(
    corpus: Path, tmp_path: Path, name: str, requested: str, backend: str
) -> None:
    """The Ray engine writes, shard by shard in input order, the ids of an encode loop."""
    model = card(name, requested)
    tok = model.load()
    manifest = run(
        corpus, tmp_path / "out", model, engine="ray", workers=2, chunk_bytes=8192, batch_rows=4
    )
    expected = expected_rows(tok, corpus)
    assert output_rows(tmp_path / "out") == expected
    assert (manifest["engine"], manifest["worker_start"]) == ("ray", "ray")
    # The driver does not load the card: backend and fingerprint are what the workers
    # loaded, and the fallback reason is the one a load here gives.
    assert (manifest["backend"], tok.backend) == (backend, backend)
    assert manifest["fallback_reason"] == tok.fallback_reason
    assert manifest["fingerprint"] == tok.fingerprint
    assert manifest["card"] == tok.card.model_dump(mode="json")
    assert (manifest["rows"], manifest["tokens"]) == (
        len(expected),
        sum(len(ids) for _, _, ids in expected),
    )


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_says_on_the_driver_why_the_workers_fell_back(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """The workers' fallback warning reaches the driver's log once, with their reason."""
    texts = [{"text": f"text number {n}, long enough to fill a few chunks"} for n in range(200)]
    source = write_jsonl(tmp_path / "in" / "a.jsonl", texts)
    model = card("bert-base-uncased", "fastokens")
    manifest = run(source, tmp_path / "out", model, engine="ray", workers=2, chunk_bytes=1024)
    assert len(manifest["shards"]) > 2
    [event] = [e for e in logs if e["event"] == "tokenizer_fallback"]
    assert event["log_level"] == "warning"
    assert (event["engine"], event["requested"], event["selected"]) == (
        "ray",
        "fastokens",
        "huggingface",
    )
    assert event["reason"] == manifest["fallback_reason"]
    assert "WordPiece" in event["reason"]


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_stops_a_chat_job_whose_card_has_no_template(tmp_path: Path) -> None:
    """On Ray the workers check the template: the job fails with the local engine's error."""
    with pytest.raises(ChatTemplateError, match="--chat"):
        run(TEXTS / "chat-sample.jsonl", tmp_path / "out", card("gpt2"), engine="ray", chat=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_fails_a_cut_that_fails_with_its_own_error(tmp_path: Path) -> None:
    """A file the cut refuses, after others were cut, fails the job as itself (JobError)."""
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": f"line {n}"} for n in range(500)])
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "in" / "b.parquet")
    with pytest.raises(JobError, match="no column 'text'"):
        run(tmp_path / "in", tmp_path / "out", card("gpt2"), engine="ray", chunk_bytes=1024)
    assert not (tmp_path / "out").exists()


def test_feed_hands_over_items_in_order_and_raises_where_it_failed() -> None:
    """A Feed gives what its thread makes, in order, then the thread's error in its place."""
    from modelcard.jobs.worker import Feed

    def produce() -> Iterator[int]:
        yield from range(5)
        raise JobError("the sixth item")

    feed = iter(Feed(produce, "test-feed"))
    assert [next(feed) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(JobError, match="the sixth item"):
        next(feed)
    assert list(Feed(lambda: iter("abc"), "test-feed")) == ["a", "b", "c"]
    closed = Feed(lambda: iter(range(10**6)), "test-feed")
    assert next(iter(closed)) == 0
    closed.close()
    assert list(closed) == []


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_reports_bad_records_like_the_local_one(tmp_path: Path) -> None:
    """On Ray, skip mode reports the same bad lines; fail mode raises the same RecordError."""
    source = write_jsonl(tmp_path / "in" / "bad.jsonl", BAD_LINES)
    model = card("gpt2")
    manifest = run(source, tmp_path / "out", model, engine="ray", on_error="skip")
    assert sorted(output_rows(tmp_path / "out")) == [
        ("bad.jsonl", 1, model.load().encode("good one")),
        ("bad.jsonl", 8, model.load().encode("good two")),
    ]
    assert {r["row"]: r["kind"] for r in errors_report(tmp_path / "out")} == BAD_KINDS
    assert (manifest["skipped"], manifest["blank_lines"]) == (5, 1)
    with pytest.raises(RecordError, match=r"bad\.jsonl line 2: malformed JSON"):
        run(source, tmp_path / "again", model, engine="ray")


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_renders_chat(tmp_path: Path) -> None:
    """On Ray, --chat gives the ids of the rendered conversations."""
    model = card("qwen2.5")
    tok = model.load()
    run(TEXTS / "chat-sample.jsonl", tmp_path / "out", model, engine="ray", chat=True)
    expected = [
        (
            "chat-sample.jsonl",
            n,
            tok.encode(tok.apply_chat_template(m, add_generation_prompt=False)),
        )
        for n, m in enumerate(chat_messages(), 1)
    ]
    assert sorted(output_rows(tmp_path / "out")) == expected


@pytest.mark.usefixtures("local_ray")
def test_ray_actor_finding_other_files_stops_the_job(tmp_path: Path) -> None:
    """On Ray, an actor whose card files differ from the pinned fingerprint fails the job."""
    from concurrent.futures import Future

    from modelcard.jobs.inputs import iter_tasks
    from modelcard.jobs.ray_engine import run_ray

    pinned, source = edited_after_load(tmp_path)
    settings = JobSettings(input=source, output=tmp_path / "out", engine="ray", workers=1)
    (tmp_path / "out").mkdir()
    # What the driver pinned before the files changed.
    pinning: Future[ModelCard] = Future()
    pinning.set_result(pinned)
    files = list_inputs(source)[0]
    cut = list(iter_tasks(files, chunk_bytes=4096, field="text", chat=False))
    with pytest.raises(FingerprintMismatchError, match="changed since the card was created"):
        run_ray(
            pinning,
            cut,
            settings,
            tmp_path / "out",
            progress=Progress(enabled=False, engine="ray"),
            report=None,
        )


def test_import_stays_light_with_the_command() -> None:
    """Building the command line (tokenize's help) imports neither pyarrow, numpy nor ray."""
    import subprocess
    import sys

    code = (
        "import contextlib, io, sys\n"
        "from modelcard.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['tokenize', '--help']) == 0\n"
        "print(','.join(m for m in ('pyarrow', 'numpy', 'ray', 'tqdm') if m in sys.modules))\n"
    )
    with warnings.catch_warnings():
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
    assert out.stdout.strip() == ""
