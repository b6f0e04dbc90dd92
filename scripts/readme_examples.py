"""Run the README's runnable examples with real curl against a running Anker.

A ```bash (or ```sh) block right after a line `<!-- readme-example: run -->` is runnable. The
blocks run in README order in one bash process (`set -euo pipefail`), so a variable one block
sets is there for the next. `curl` is wrapped: every call must answer 2xx, unless its line ends in
a comment that starts with the status it documents (`curl … # 409 unless …`). Placeholders the
README uses for what only the reader has are replaced:

- `http://127.0.0.1:8000` → `--base-url`
- `"password":"..."` → the password of the README's user `me` (`--password`)
- `$ANKER_KEY` → an API key of that user (`--api-key`, exported as ANKER_KEY)
- `https://example.com/anker-hook` → `--webhook-url` (when given)

    .venv/bin/python scripts/readme_examples.py --base-url http://127.0.0.1:8000 \\
        --password '…' --api-key '…'   [--list]

Exit status 0 when every block ran; otherwise the failing block, its command and output are
printed. `tests/readme/test_readme_examples.py` runs it against the test stack.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-example: run -->"
FENCES = ("```bash", "```sh")
README_BASE_URL = "http://127.0.0.1:8000"
README_PASSWORD = '"password":"..."'
README_WEBHOOK_URL = "https://example.com/anker-hook"
# A curl line that documents a status other than 2xx: `curl … # 409 …`.
EXPECTED_STATUS = re.compile(r"^(\s*)curl\b(.*)#\s*([1-5]\d\d)\b")

PRELUDE = r"""
set -euo pipefail
curl() {
  local err status want
  err=$(mktemp)
  if ! command curl -w '%{stderr}%{http_code}\n' "$@" 2>"$err"; then
    cat "$err" >&2; rm -f "$err"
    echo "readme-example: curl failed: curl $*" >&2
    return 1
  fi
  status=$(tail -n 1 "$err"); head -n -1 "$err" >&2; rm -f "$err"
  want="${ANKER_EXPECT:-2xx}"
  local command="$*"
  printf '%s %s %s\n' "$status" "$want" "${command//$'\n'/ }" >> "$ANKER_README_LOG"
  if [[ "$want" == 2xx && "$status" == 2?? ]] || [[ "$status" == "$want" ]]; then return 0; fi
  echo "readme-example: HTTP $status (expected $want): curl $*" >&2
  return 1
}
"""


@dataclass
class Block:
    heading: str
    line: int  # 1-based line of the fence in the README
    code: str


@dataclass
class Call:
    status: str
    expected: str
    command: str


@dataclass
class Outcome:
    ok: bool
    blocks_run: int
    failed: Block | None
    output: str
    calls: list[Call] = field(default_factory=list)


def runnable_blocks(text: str) -> list[Block]:
    """The README's blocks marked runnable, in order, with the heading each is under."""
    lines = text.splitlines()
    blocks, heading, i, in_fence = [], "", 0, False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_fence = not in_fence
        elif line.startswith("#") and not in_fence:
            heading = line.lstrip("#").strip()
        if line.strip() == MARKER:
            fence = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if fence not in FENCES:
                raise ValueError(f"README line {i + 1}: {MARKER} must be followed by a ```bash block")
            end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise ValueError(f"README line {i + 2}: the block is not closed")
            blocks.append(Block(heading, i + 2, "\n".join(lines[i + 2 : end])))
            i = end
        i += 1
    return blocks


def prepare(code: str, *, base_url: str, password: str, webhook_url: str | None) -> str:
    """The block as it will run: placeholders replaced, documented statuses expected."""
    code = code.replace(README_BASE_URL, base_url.rstrip("/"))
    code = code.replace(README_PASSWORD, f'"password":{json.dumps(password)}')
    if webhook_url:
        code = code.replace(README_WEBHOOK_URL, webhook_url)
    return "\n".join(EXPECTED_STATUS.sub(r"\1ANKER_EXPECT=\3 curl\2# \3", line) for line in code.splitlines())


def run(
    blocks: list[Block],
    *,
    base_url: str,
    password: str,
    api_key: str,
    webhook_url: str | None = None,
    timeout: float = 600,
) -> Outcome:
    """Run the blocks in one bash process, in a scratch directory (examples may write files)."""
    with tempfile.TemporaryDirectory(prefix="readme-examples-") as tmp:
        log = Path(tmp) / "calls.log"
        log.touch()
        script = [PRELUDE]
        for n, block in enumerate(blocks):
            script.append(f"echo '::readme-block {n}::' >&2")
            script.append(prepare(block.code, base_url=base_url, password=password, webhook_url=webhook_url))
        script.append(f"echo '::readme-block {len(blocks)}::' >&2")
        env = {**os.environ, "ANKER_KEY": api_key, "ANKER_README_LOG": str(log)}
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        reached = [int(m) for m in re.findall(r"::readme-block (\d+)::", done.stderr)]
        last = reached[-1] if reached else 0
        calls = [Call(*line.split(" ", 2)) for line in log.read_text().splitlines() if line]
        ok = done.returncode == 0 and last == len(blocks)
        failed = None if ok else blocks[min(last, len(blocks) - 1)] if blocks else None
        return Outcome(ok, last, failed, done.stdout + done.stderr, calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--base-url", default=README_BASE_URL)
    parser.add_argument("--password", default=os.environ.get("ANKER_PASSWORD", ""))
    parser.add_argument("--api-key", default=os.environ.get("ANKER_KEY", ""))
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--list", action="store_true", help="list the runnable blocks and exit")
    args = parser.parse_args(argv)
    blocks = runnable_blocks(Path(args.readme).read_text())
    if args.list:
        for block in blocks:
            print(f"README.md:{block.line}  {block.heading}")
        return 0
    outcome = run(
        blocks, base_url=args.base_url, password=args.password, api_key=args.api_key, webhook_url=args.webhook_url
    )
    for call in outcome.calls:
        print(f"{call.status} (want {call.expected})  curl {call.command[:150]}")
    if outcome.ok:
        print(f"{len(blocks)} README blocks ran, {len(outcome.calls)} curl calls answered as documented")
        return 0
    assert outcome.failed is not None
    print(f"README.md:{outcome.failed.line} ({outcome.failed.heading}) failed:\n{outcome.output[-4000:]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
