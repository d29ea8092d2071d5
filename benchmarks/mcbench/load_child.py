"""One load, in a fresh process: ``python load_child.py '<json>'``; prints one result line.

Run by ``loads.py``; it imports nothing of the benchmark, so every variant pays only for
its own library. Times: import, load, first encode, first streamed text (a decode stream
fed the encoded ids until it yields text, as a server streams the first generated
tokens), a repeated load (modelcard), first full decode; peak RSS (VmHWM) after import,
after load + first encode, and after the stream and decode.
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


def _raw(tok, stream_class) -> tuple:
    def stream():
        state = stream_class(ids=None, skip_special_tokens=False)
        return lambda token_id: state.step(tok, token_id)

    return (
        tok,
        lambda t: tok.encode(t, add_special_tokens=False).ids,
        lambda ids: tok.decode(ids, skip_special_tokens=False),
        stream,
    )


def _load(args: dict) -> tuple:
    """The tokenizer, and functions that encode, decode and start a decode stream."""
    path = args["dir"] + "/tokenizer.json"
    kind = args["kind"]
    if kind == "hf":
        from tokenizers import Tokenizer
        from tokenizers.decoders import DecodeStream

        return _raw(Tokenizer.from_file(path), DecodeStream)
    if kind == "fastokens":
        from fastokens import Tokenizer
        from fastokens._native import DecodeStream

        return _raw(Tokenizer.from_file(path), DecodeStream)
    tok = _card(args).load()
    return tok, tok.encode, tok.decode, lambda: tok.decode_stream().step


def _card(args: dict):
    from modelcard import ModelCard

    return ModelCard(
        model=args["dir"],
        tokenizer=args["backend"],
        decoder=args.get("decoder", "auto"),
        tokenizer_fallback=args["backend"] != "fastokens",
        decoder_load=args.get("decoder_load", "lazy"),
    )


def _first_text(stream, ids) -> int | None:
    """Steps until the stream yields text: how many ids that took (None: it never did)."""
    step = stream()
    for n, token_id in enumerate(ids, 1):
        if step(token_id):
            return n
    return None


def main() -> None:
    args = json.loads(sys.argv[1])
    clock, cpu = time.perf_counter, time.process_time
    t0 = clock()
    _import(args["kind"])
    t1, c1 = clock(), cpu()
    rss_import = _rss_mib()
    tok, encode, decode, stream = _load(args)
    t2 = clock()
    ids = encode(args["text"])
    t3, c3 = clock(), cpu()
    ready = time.monotonic()
    rss_load = _rss_mib()
    t_s0, c_s0 = clock(), cpu()  # the RSS reading above stays out of the stream's time
    steps = _first_text(stream, ids)
    t_stream, c_stream = clock(), cpu()
    to_stream = (t3 - t1) + (t_stream - t_s0)
    to_stream_cpu = (c3 - c1) + (c_stream - c_s0)
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
        "first_stream_s": t_stream - t_s0,
        "load_to_first_stream_s": to_stream if steps else None,
        "load_to_first_stream_cpu_s": to_stream_cpu if steps else None,
        "stream_steps_to_text": steps,
        "repeat_load_s": repeat,
        "first_decode_s": t5 - t4,
        "rss_import_mib": rss_import,
        "rss_load_mib": rss_load,
        "rss_decode_mib": _rss_mib(),
        "tokens": len(ids),
        # modelcard says who encodes and decodes; a raw library does both itself (and HF's
        # Tokenizer.decoder is its decoder object, not a name).
        "backend": tok.backend if args["kind"] == "modelcard" else args["kind"],
        "decoder": tok.decoder if args["kind"] == "modelcard" else args["kind"],
    }
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
