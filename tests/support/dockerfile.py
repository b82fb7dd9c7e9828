"""deploy/Dockerfile read into instructions, so that a test can run the steps it
marks "(checked)" with the same commands, outside a container.

Only what that Dockerfile uses is understood: continuation lines, comments, stages
(FROM), ENV in its KEY=VALUE form with $VAR / ${VAR} expanded, and CMD in its exec
(JSON) form.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

MARK = "# (checked)"
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass
class Instruction:
    stage: int  # 0 for the first FROM's stage, 1 for the next, ...
    keyword: str  # upper case: RUN, CMD, ENV, ...
    args: str  # the rest of the instruction, continuation lines joined
    checked: bool  # the line before it is the comment "# (checked)"
    line: int  # where it starts in the file (1-based)

    def __str__(self) -> str:
        return f"line {self.line}: {self.keyword} {self.args}"


def parse(path: Path) -> list[Instruction]:
    instructions: list[Instruction] = []
    stage = -1
    marked = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            marked = marked or line == MARK  # the mark holds for the next instruction
            continue
        if pending and line.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        pending = []
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword, args.strip(), marked, start))
        marked = False
    return instructions


def expand(text: str, env: dict[str, str]) -> str:
    """$VAR and ${VAR} replaced from `env` (unset: empty), as Docker expands ENV."""
    return VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_pairs(instruction: Instruction, env: dict[str, str]) -> dict[str, str]:
    """The variables an `ENV KEY=VALUE ...` instruction sets."""
    pairs = {}
    for word in shlex.split(instruction.args):
        key, sep, value = word.partition("=")
        assert sep, f"{instruction}: only the KEY=VALUE form of ENV is understood"
        pairs[key] = expand(value, env)
    return pairs


def exec_form(instruction: Instruction) -> list[str]:
    """The argument list of a CMD or ENTRYPOINT in exec form."""
    argv = json.loads(instruction.args)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), f"{instruction}: not the exec form"
    return argv
