"""A reader of the project's Dockerfile for the tests that replay it without a Docker engine.

It understands what the Dockerfile uses (FROM ... AS, WORKDIR, COPY [--from], RUN, ENV, USER, EXPOSE,
VOLUME, HEALTHCHECK, ENTRYPOINT, CMD, line continuations, comments) and refuses anything else, so a new
instruction cannot slip past the replay unnoticed.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KNOWN = {
    "FROM",
    "WORKDIR",
    "COPY",
    "RUN",
    "ENV",
    "USER",
    "EXPOSE",
    "VOLUME",
    "HEALTHCHECK",
    "ENTRYPOINT",
    "CMD",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD / ENTRYPOINT / HEALTHCHECK ... CMD, as an argv."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1]
        argv = json.loads(text)
        assert isinstance(argv, list), f"{self.keyword} is not in exec form: {self.arguments}"
        return [str(a) for a in argv]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage (KEY=VALUE pairs), $VAR references to earlier ones expanded."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), "$" + m.group(1)), value)
        return values


def read_dockerfile(path: Path) -> list[Stage]:
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword not in KNOWN:
            raise ValueError(f"the replay does not know the Dockerfile instruction {keyword}")
        arguments = " ".join(arguments.split())
        if keyword == "FROM":
            parts = arguments.split()
            stages.append(Stage(base=parts[0], name=parts[2] if len(parts) == 3 else None))
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages
