"""The user docs in `docs/`: the generated task page is current, and every page the code cites exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from penguin import docs

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("penguin", "datamodules", "lit_modules", "callbacks")
CITATION = re.compile(r"\b[A-Za-z_/]+\.md\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_tasks_page_is_current():
    committed = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    assert committed == docs.tasks_page(), "docs/tasks.md is stale; regenerate it with `python -m penguin.docs`"


def test_check_reports_a_stale_page_in_one_line(tmp_path, capsys):
    page = tmp_path / "tasks.md"
    page.write_text("# Tasks\n", encoding="utf-8")
    assert docs.main(["--check", "--out", str(page)]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "python -m penguin.docs" in message
    assert docs.main(["--out", str(page)]) == 0
    assert docs.main(["--check", "--out", str(page)]) == 0


def cited_pages() -> list[tuple[str, str]]:
    """`(file:line, cited name)` for every `*.md` named in the package's source."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for name in CITATION.findall(line):
                    found.append((f"{path.relative_to(ROOT)}:{number}", name))
    return found


def exists_in_repo(name: str) -> bool:
    """A path (`docs/game.md`) resolves from the repository root; a bare name is searched for."""
    if "/" in name:
        return (ROOT / name).is_file()
    return any(ROOT.glob(f"**/{name}"))


def test_every_cited_page_exists():
    missing = [f"{where}: {name}" for where, name in cited_pages() if not exists_in_repo(name)]
    assert not missing, "the code cites pages that are not in the repository:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_links_between_pages_resolve(page):
    targets = [t for t in LINK.findall(page.read_text(encoding="utf-8")) if "://" not in t]
    broken = [t for t in targets if not (page.parent / t).exists()]
    assert not broken, f"{page.name} links to missing files: {broken}"
