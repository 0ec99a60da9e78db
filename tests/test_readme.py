# SPDX-License-Identifier: Apache-2.0
"""The README stays a newcomer's page, and the docs' local links resolve.

* README.md has at most ``MAX_README_LINES`` lines (reference material goes
  into ``docs/*.md``).
* The tree in README's "Layout" section names every package directory of
  ``tuss_plugin/`` (every directory with an ``__init__.py``, read from the
  checkout at test time) and no directory that does not exist. In that tree a
  directory entry is a line whose first word ends with ``/``; an indented entry
  lies inside the nearest less indented entry above it
  (``tuss_plugin/`` then ``  dataprep/`` then ``    pools/`` is
  ``tuss_plugin/dataprep/pools/``).
* Every relative Markdown link in README.md and docs/*.md points to an
  existing file or directory, and a ``#anchor`` into a Markdown file names one
  of its headings (GitHub's heading ids).

Reads text files only; no torch or ESPnet import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tuss_plugin"
MAX_README_LINES = 250
# top-level directories the Layout section presents beside the package
TOP_LEVEL_DIRS = ("egs/", "conf/", "utils/", "tools/", "tests/", "docs/")

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")


def markdown_files() -> List[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def section(text: str, title: str) -> str:
    """The body of the level-2 section ``## <title>`` (up to the next ``## ``)."""
    m = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        raise AssertionError(f"README.md has no '## {title}' section")
    return m.group(1)


def layout_dirs(text: str) -> Set[str]:
    """Directory paths named by the first fenced block of the Layout section."""
    body = section(text, "Layout")
    m = re.search(r"^```[^\n]*\n(.*?)^```", body, re.M | re.S)
    if m is None:
        raise AssertionError("README.md's Layout section has no fenced tree")
    stack: List[Tuple[int, str]] = []  # (indent, path) of the enclosing directory entries
    dirs = set()
    for line in m.group(1).splitlines():
        words = line.split()
        if not words or not words[0].endswith("/"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else "") + words[0]
        stack.append((indent, path))
        dirs.add(path)
    return dirs


def package_dirs() -> Set[str]:
    """Every directory of the package that has an ``__init__.py``, as ``tuss_plugin/x/``."""
    return {
        p.parent.relative_to(ROOT).as_posix() + "/"
        for p in (ROOT / PACKAGE).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }


def heading_ids(text: str) -> Set[str]:
    """GitHub's ids of a Markdown file's headings (repeats get ``-1``, ``-2``, ...)."""
    ids: Set[str] = set()
    seen: Dict[str, int] = {}
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


def broken_links(md: Path, root: Path = ROOT) -> List[str]:
    """``<file>: <target>: <problem>`` for each relative link of ``md`` that does not
    resolve (``<file>`` relative to ``root``)."""
    text = INLINE_CODE.sub("", FENCE.sub("", md.read_text(encoding="utf-8")))
    problems = []
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            continue  # a URL (http:, mailto:, ...) or a site-absolute path: not a local file
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        where = f"{md.relative_to(root).as_posix()}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in heading_ids(dest.read_text(encoding="utf-8")):
            problems.append(f"{where}: no heading with id '{anchor}'")
    return problems


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}; move reference to docs/)"


def test_layout_names_every_package_and_nothing_else():
    named = layout_dirs((ROOT / "README.md").read_text(encoding="utf-8"))
    packages = package_dirs()
    assert packages, "found no package directories (wrong ROOT?)"
    missing = sorted(packages - named)
    assert not missing, f"README.md's Layout does not name these packages: {missing}"
    in_package = {d for d in named if d.split("/")[0] == PACKAGE}
    assert not sorted(in_package - packages), f"Layout names non-packages: {sorted(in_package - packages)}"
    absent = sorted(d for d in named if not (ROOT / d).is_dir())
    assert not absent, f"Layout names directories that do not exist: {absent}"
    assert not [d for d in TOP_LEVEL_DIRS if d not in named], f"Layout should also name {TOP_LEVEL_DIRS}"


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_local_links_resolve(md: Path):
    problems = broken_links(md)
    assert not problems, "\n".join(problems)


def test_layout_parser_nests_by_indentation():
    text = "## Layout\n\n```\ntuss_plugin/  pkg\n  dataprep/  prep\n    pools/  p\n  bin/  b\negs/  e\n```\n"
    assert layout_dirs(text) == {
        "tuss_plugin/",
        "tuss_plugin/dataprep/",
        "tuss_plugin/dataprep/pools/",
        "tuss_plugin/bin/",
        "egs/",
    }


def test_link_checker_sees_broken_links(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Title\n\n## Set up\n", encoding="utf-8")
    probe = tmp_path / "docs" / "probe.md"
    probe.write_text(
        "[ok](../README.md#set-up) [bad](missing.md) [anchor](../README.md#nope) [url](https://example.org)\n"
        "`[code](nope.md)`\n```\n[fenced](nope.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(probe, tmp_path) == [
        "docs/probe.md: missing.md: no such file",
        "docs/probe.md: ../README.md#nope: no heading with id 'nope'",
    ]
