"""A MkDocs hook: pages take their text from the README, so the guide has one source.

A line ``<!-- readme: Title -->`` in a page is replaced by the README's section of that
title, from its ``## Title`` heading to the next ``## `` (``(top)``: the text before the
first section), its deeper headings kept as they are. Links into the repository
(``examples/...``) become code, since the site does not carry those files; the
``<!-- test: ... -->`` markers of the README's blocks go.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
_MARKER = re.compile(r"^<!-- readme: (?P<title>.+?) -->$", re.M)
_REPO_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|#)[^)]+\)")
_TEST_MARKER = re.compile(r"^<!-- (test: [a-z]+|operations:(start|end)) -->\n", re.M)


def section(title: str) -> str:
    """The README's section headed ``## title``, without its heading."""
    text = README.read_text()
    if title == "(top)":  # what comes before the first section, below the title
        body = text.split("\n## ", 1)[0].split("\n", 1)[1]
    else:
        match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        if match is None:
            raise ValueError(f"README.md has no section {title!r}")
        body = match.group(1)
    body = _TEST_MARKER.sub("", body)
    return _REPO_LINK.sub(lambda m: f"`{m.group(1).strip('`')}`", body)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each ``<!-- readme: Title -->`` line by that README section."""
    return _MARKER.sub(lambda m: section(m.group("title")), markdown)
