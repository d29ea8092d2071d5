"""Write OpenAI's ``<encoding>.tiktoken`` ranks files offline, from the npm package
``tiktoken`` (which bundles them), and check each against the SHA-256 the ``tiktoken``
library expects of the file it would download.

    npm pack tiktoken@1.0.22 && tar xzf tiktoken-1.0.22.tgz
    python benchmarks/tiktoken_from_npm.py package --out /tmp/o200k o200k_base

The package stores an encoding's ranks as lines ``<first token> <first rank> <base64>
<base64> ...`` (consecutive ranks); a ``.tiktoken`` file has one ``<base64> <rank>``
line per token. Used to check the o200k_base preset (``modelcard verify --model
/tmp/o200k``) where the hub and OpenAI's blob store are out of reach.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

#: What tiktoken_ext.openai_public expects of the files (tiktoken 0.14).
EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


def ranks_file(package: Path, encoding: str) -> str:
    """The ``.tiktoken`` text of ``encoding`` from the unpacked npm package."""
    bundled = json.loads((package / "encoders" / f"{encoding}.json").read_text("utf-8"))
    lines = []
    for line in bundled["bpe_ranks"].split("\n"):
        if not line:
            continue
        _, first, *tokens = line.split(" ")
        lines += [f"{token} {int(first) + i}" for i, token in enumerate(tokens)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("encodings", nargs="+", choices=sorted(EXPECTED_SHA256))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for encoding in args.encodings:
        text = ranks_file(args.package, encoding)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != EXPECTED_SHA256[encoding]:
            raise SystemExit(f"{encoding}: sha256 {digest} is not the published file's")
        path = args.out / f"{encoding}.tiktoken"
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {text.count(chr(10)):,} ranks, sha256 {digest} (as tiktoken expects)")


if __name__ == "__main__":
    main()
