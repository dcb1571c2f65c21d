"""The README and docs/ keep their rules: every setting documented, every relative link resolves,
the README short, no path out of the repository and no issue numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_every_setting_is_documented() -> None:
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = [f"RAG_{name.upper()}" for name in Settings.model_fields]
    assert [name for name in names if not re.search(rf"\b{name}\b", configuration)] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    targets = [m.group(1) for m in LINK.finditer(page.read_text(encoding="utf-8"))]
    relative = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    broken = [t for t in relative if not (page.parent / t).exists()]
    assert broken == []


def test_readme_is_at_most_250_lines() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_no_path_out_of_the_repository_and_no_issue_numbers(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert re.findall(r"\bissues? #?\d+", text, re.IGNORECASE) == []
