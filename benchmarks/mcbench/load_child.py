"""One load, in a fresh process: ``python load_child.py '<json>'``; prints one result line.

Run by ``loads.py``; it imports nothing of the benchmark, so every variant pays only for
its own library. Times: import, load, first encode, a repeated load (modelcard), first
decode; peak RSS (VmHWM) after import, after load + first encode, and after decode.
"""

import time

STARTED = time.monotonic()

import json  # noqa: E402 - the clock above must start first
import resource  # noqa: E402
import sys  # noqa: E402

MARK = "MCBENCH-LOAD "


def _rss_mib() -> float:
    """Peak RSS of this process image (VmHWM).

    ru_maxrss would do on its own, but Linux carries the parent's peak across fork+exec
    into it, so a large benchmark parent would mask every child's figure.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import(kind: str) -> None:
    if kind == "hf":
        import tokenizers  # noqa: F401
    elif kind == "fastokens":
        import fastokens  # noqa: F401
    else:
        import logging

        import structlog

        import modelcard  # noqa: F401

        # A server configures logging; the library's debug events should not print here.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _load(args: dict) -> tuple:
    """The tokenizer, an encode function and a decode function."""
    path = args["dir"] + "/tokenizer.json"
    kind = args["kind"]
    if kind == "hf":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(path)
        return (
            tok,
            lambda t: tok.encode(t, add_special_tokens=False).ids,
            lambda ids: tok.decode(ids, skip_special_tokens=False),
        )
    if kind == "fastokens":
        from fastokens import Tokenizer

        tok = Tokenizer.from_file(path)
        return (
            tok,
            lambda t: tok.encode(t, add_special_tokens=False).ids,
            lambda ids: tok.decode(ids, skip_special_tokens=False),
        )
    tok = _card(args).load()
    return tok, tok.encode, tok.decode


def _card(args: dict):
    from modelcard import ModelCard

    return ModelCard(
        model=args["dir"],
        tokenizer=args["backend"],
        tokenizer_fallback=args["backend"] != "fastokens",
        decoder_load=args.get("decoder_load", "lazy"),
    )


def main() -> None:
    args = json.loads(sys.argv[1])
    clock, cpu = time.perf_counter, time.process_time
    t0 = clock()
    _import(args["kind"])
    t1, c1 = clock(), cpu()
    rss_import = _rss_mib()
    tok, encode, decode = _load(args)
    t2 = clock()
    ids = encode(args["text"])
    t3, c3 = clock(), cpu()
    ready = time.monotonic()
    rss_load = _rss_mib()
    repeat = None
    if args["kind"] == "modelcard":
        t = clock()
        _card(args).load()
        repeat = clock() - t
    t4 = clock()
    decode(ids)
    t5 = clock()
    result = {
        "started_monotonic": STARTED,
        "ready_monotonic": ready,
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "first_encode_s": t3 - t2,
        "load_to_first_encode_s": t3 - t1,
        "load_to_first_encode_cpu_s": c3 - c1,
        "repeat_load_s": repeat,
        "first_decode_s": t5 - t4,
        "rss_import_mib": rss_import,
        "rss_load_mib": rss_load,
        "rss_decode_mib": _rss_mib(),
        "tokens": len(ids),
        "backend": getattr(tok, "backend", args["kind"]),
    }
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
