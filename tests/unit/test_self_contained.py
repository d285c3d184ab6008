"""The repository stands on its own: no tracked file points at notes outside it, and every relative Markdown
link resolves to a file inside it.

A user has only this repository, so a mention of the team's working notes (their design file, reference
notes, incident files) is a dead end; what the product relies on lives in docs/protocol.md, docs/incidents.md
and docs/detection.md. The patterns are assembled from pieces so that this file does not match itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_OUTSIDE = [
    re.escape(".." + "/shared"),
    re.escape("/work" + "/"),
    re.escape("DES" + "IGN.md"),
    r"\bDES" + r"IGN\b",  # the word in capitals: "DES" "IGN's table", "DES" "IGN: ..."
    r"(?<![\w/.-])" + re.escape("reference" + "/"),  # the notes' folder, not a URL path like api/reference/
    re.escape("live-api-" + "protocol"),
    re.escape("alerting-and-" + "detection"),
    re.escape("monitoring-" + "anchors"),
    re.escape("style-" + "anchors"),
    re.escape("shared/" + "incidents"),
    "cd64b9d1" + "b0c45528",  # the incident files' names
    "96ab38d6" + "fc8bad49",
    re.escape("reference " + "notes"),
    re.escape("ref " + "§"),
    # a section number after the word: "... 5.2", "... section 3.8", "...'s section 2"
    r"\breference" + r"(?:'s)? (?:section )?\d",
    re.escape("the reference " + "predicts"),
]
OUTSIDE = re.compile("|".join(_OUTSIDE))
# Inline Markdown links and images: [text](target) / ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def tracked_files() -> list[Path]:
    """The files a clone holds: git's index (without deleted ones), or the tree when there is no git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        ).stdout.decode()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "data", "build", "node_modules"}
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file()
            and not skip.intersection(p.relative_to(ROOT).parts)
            and not any(part.endswith((".egg-info", "_cache", "__pycache__")) for part in p.parts)
        ]
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary (images, audio prompts)


def test_no_file_refers_outside_the_repository() -> None:
    """No tracked text file mentions the team's outside notes (design file, research notes, incidents)."""
    found = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            match = OUTSIDE.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:120]}")
    assert not found, "references outside the repository:\n" + "\n".join(found)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces to '-'."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_relative_markdown_links_resolve_inside_the_repository() -> None:
    """Every relative link in a Markdown file names an existing file of this repository (and heading)."""
    broken = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        text = text_of(path) or ""
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http(s)://, mailto:
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: ({target})")
            elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text()):
                broken.append(f"{path.relative_to(ROOT)}: ({target}): no such heading")
    assert not broken, "links that leave the repository or lead nowhere:\n" + "\n".join(broken)


def test_the_patterns_catch_what_they_are_for() -> None:
    """Each kind of outside reference is caught, and ordinary project prose is not."""
    caught = [
        "see " + "../" + "shared" + "/incidents/000.txt",
        "the " + "DES" + "IGN" + ".md record",
        "DES" + "IGN" + "'s table",
        "`" + "reference" + "/" + "live-api-" + "protocol.md` section 5.2",
        "alerting-and-" + "detection.md 3.3",
        "(ref " + "§3.8)",
        "(reference" + " 3.6)",
        "the happy path of reference" + " section 3.8",
        "and the reference's" + " section 2.",
    ]
    assert all(OUTSIDE.search(line) for line in caught)
    fine = [
        "docs/protocol.md section 5.2",
        "the design of the rules",
        "Designed for ops",
        "https://developers.example.com/api/" + "reference" + "/live",
    ]
    assert not any(OUTSIDE.search(line) for line in fine)
    assert LINK.findall("[a](docs/x.md#y) and ![b](docs/status-page.png)") == [
        "docs/x.md#y",
        "docs/status-page.png",
    ]
