"""Smoke check: the benchmark runs end to end on the bundled fixtures and writes its outputs.

    python benchmarks/smoke.py

No pytest, no shared corpus: the smoke plan (every code path once) on four of the
fixtures and fixtures/texts, into a temporary directory. Exits non-zero, with the reason, when
anything is missing. ``--quick`` runs the quick plan instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: One fixture per path through the benchmark: fastokens and a tiktoken peer (gpt2), a chat
#: template (minimal-bpe-chat), a fastokens refusal (minimal-bpe-punct), texts fastokens
#: cannot encode (tiny-bpe-torchtune). The large fixtures only add load time.
FIXTURES = "gpt2,minimal-bpe-chat,minimal-bpe-punct,tiny-bpe-torchtune"
MEASURES = {"chat", "long", "multilingual", "code", "batch", "flat", "decode", "stream", "cache"}
MEASURES |= {"stream-prompt"}
#: (measure, contender) pairs that must have been timed, and pairs that must not.
TIMED = {("decode", "mc-hybrid"), ("stream", "mc-hybrid"), ("stream", "fastokens")}
NOT_TIMED = {("chat", "mc-hybrid"), ("batch", "mc-hybrid"), ("flat", "mc-hybrid")}


def _problems(out: Path) -> list[str]:
    wanted = ("results.json", "results.md")
    problems = [f"{name} missing" for name in wanted if not (out / name).is_file()]
    if not (out / "throughput.png").is_file():
        problems.append("throughput.png missing (matplotlib: pip install -e '.[bench]')")
    if problems:
        return problems
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    fast = [
        name
        for name, entry in results["tokenizers"].items()
        if entry["contenders"]["mc-fastokens"]["unavailable"] is None
    ]
    if not fast:
        problems.append("modelcard fastokens was measured on no tokenizer")
    seen = {m["measure"] for e in results["tokenizers"].values() for m in e["measures"]}
    if MEASURES - seen:
        problems.append(f"measures never ran: {sorted(MEASURES - seen)}")
    timed = {
        (m["measure"], c)
        for e in results["tokenizers"].values()
        for m in e["measures"]
        for c in m["contenders"]
    }
    for pair in TIMED - timed:
        problems.append(f"{pair[1]} never timed in the {pair[0]} measure")
    for pair in NOT_TIMED & timed:
        problems.append(f"{pair[1]} timed in the {pair[0]} measure, where it does not belong")
    loads = results.get("loads", {}).get("summary", {})
    if not loads:
        problems.append("no load measurements")
    elif not any(
        "load_to_first_stream_s" in v for e in loads.values() for v in e["variants"].values()
    ):
        problems.append("no load → first streamed text figure")
    if not results.get("targets"):
        problems.append("no targets evaluated")
    return problems


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelcard-bench-smoke-") as tmp:
        out = Path(tmp)
        command = [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--plan",
            "quick" if "--quick" in sys.argv[1:] else "smoke",
            "--tokenizers",
            str(REPO / "fixtures"),
            "--texts",
            str(REPO / "fixtures" / "texts"),
            "--out",
            str(out),
            "--only",
            FIXTURES,
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            print(f"smoke: FAIL, run.py exited {proc.returncode}", file=sys.stderr)
            return 1
        problems = _problems(out)
    elapsed = time.monotonic() - started
    if problems:
        print("smoke: FAIL: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"smoke: ok, benchmark ran end to end in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
