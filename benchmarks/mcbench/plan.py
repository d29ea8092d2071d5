"""How much work each mode does. ``quick`` is for development; ``full`` for published runs."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Plan:
    """Repetitions and sizes of every measure."""

    name: str
    warmup_conversations: int
    chat_reps: int
    chat_per_rep: int
    batch_reps: int
    batch_size: int
    long_reps: int
    multi_reps: int
    multi_per_rep: int
    code_reps: int
    code_bytes: int
    flat_reps: int
    flat_size: int
    warmup_sentences: int
    decode_reps: int
    decode_per_rep: int
    stream_reps: int
    stream_per_rep: int
    cache_conversations: int
    load_reps: int
    load_variants: tuple[str, ...]
    cache_bytes: int = 64 * MIB
    stream_context: int = 32

    def conversation_slices(self) -> dict[str, int]:
        """How many conversations each workload takes, in a fixed order of disjoint slices."""
        return {
            "warmup": self.warmup_conversations,
            "chat": self.chat_reps * self.chat_per_rep,
            "batch": self.batch_reps * self.batch_size,
            "decode": self.decode_reps * self.decode_per_rep,
            "stream": self.stream_reps * self.stream_per_rep,
            # Only multi-turn conversations serve the cache workload: take spares.
            "cache": self.cache_conversations * 2,
        }


ALL_LOAD_VARIANTS = (
    "hf",
    "fastokens",
    "mc-default",
    "mc-fastokens",
    "mc-hybrid-lazy",
    "mc-hybrid-background",
    "mc-hybrid-eager",
)

QUICK = Plan(
    name="quick",
    warmup_conversations=8,
    chat_reps=40,
    chat_per_rep=2,
    batch_reps=8,
    batch_size=8,
    long_reps=3,
    multi_reps=6,
    multi_per_rep=2,
    code_reps=6,
    code_bytes=16_000,
    flat_reps=8,
    flat_size=200,
    warmup_sentences=300,
    decode_reps=6,
    decode_per_rep=3,
    stream_reps=8,
    stream_per_rep=2,
    cache_conversations=12,
    load_reps=3,
    load_variants=("hf", "fastokens", "mc-default", "mc-fastokens", "mc-hybrid-lazy"),
)

FULL = Plan(
    name="full",
    warmup_conversations=40,
    chat_reps=200,
    chat_per_rep=4,
    batch_reps=24,
    batch_size=16,
    long_reps=9,
    multi_reps=24,
    multi_per_rep=4,
    code_reps=30,
    code_bytes=32_000,
    flat_reps=30,
    flat_size=500,
    warmup_sentences=2000,
    decode_reps=20,
    decode_per_rep=8,
    stream_reps=40,
    stream_per_rep=5,
    cache_conversations=120,
    load_reps=7,
    load_variants=ALL_LOAD_VARIANTS,
)

#: Every code path once, as fast as possible: proves the benchmark runs, measures nothing.
SMOKE = Plan(
    name="smoke",
    warmup_conversations=2,
    chat_reps=2,
    chat_per_rep=1,
    batch_reps=2,
    batch_size=2,
    long_reps=2,
    multi_reps=2,
    multi_per_rep=1,
    code_reps=2,
    code_bytes=4_000,
    flat_reps=2,
    flat_size=20,
    warmup_sentences=20,
    decode_reps=2,
    decode_per_rep=1,
    stream_reps=2,
    stream_per_rep=1,
    cache_conversations=2,
    load_reps=1,
    load_variants=("fastokens", "mc-fastokens", "mc-hybrid-lazy"),
)

PLANS = {"quick": QUICK, "full": FULL, "smoke": SMOKE}
