"""The YAML examples of docs/providers/, read as tests apply them.

A provider page's example is what an admin copies; tests read it from the
page instead of repeating it, so the doc cannot drift from the schema or
the fake unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[1] / "docs" / "providers"
_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def doc_page(slug: str) -> Path:
    """Return the path of docs/providers/<slug>.md."""
    return DOCS / f"{slug}.md"


def yaml_blocks(path: Path) -> list[str]:
    """Return the text of every fenced YAML block of the page, in order."""
    return _YAML_BLOCK.findall(path.read_text(encoding="utf-8"))


def doc_block(slug: str) -> str:
    """Return the first YAML block of docs/providers/<slug>.md."""
    return yaml_blocks(doc_page(slug))[0]


def documented_example(slug: str) -> dict[str, Any]:
    """Return the first documented integration of provider ``slug``.

    The provider's own page is read first, then the other pages, since some
    pages document two providers (slack.md has ``slack_webhook`` too).
    Raise LookupError, naming the slug, when no page has one.
    """
    pages = [doc_page(slug), *sorted(DOCS.glob("*.md"))]
    for page in dict.fromkeys(path for path in pages if path.exists()):
        for block in yaml_blocks(page):
            document = yaml.safe_load(block)
            if not isinstance(document, dict):
                continue
            for entry in document.get("integrations") or ():
                if entry.get("provider") == slug:
                    return entry
    raise LookupError(
        f"No YAML example of provider {slug!r} in docs/providers/: add one to "
        f"docs/providers/{slug}.md."
    )
