"""The README and docs/design.md stand on their own in a fresh clone."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
NOT_YET: set[str] = set()


def test_every_link_in_the_docs_points_to_a_file_in_the_repository():
    for doc in DOCS:
        for target, _anchor in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path = (doc.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
            assert path.exists(), f"{doc.name} links to a missing file: {target}"


def test_the_readme_points_to_the_design_page():
    assert "](docs/design.md)" in (ROOT / "README.md").read_text()


def test_the_design_page_keeps_a_place_for_the_production_contract():
    assert "\n## The production contract\n" in (ROOT / "docs/design.md").read_text()


def _project_files():
    skip = {"var", "staticfiles", "test-results", "node_modules"}
    for top in ROOT.iterdir():
        if top.name.startswith(".") or top.name in skip or top.name.endswith(".egg-info"):
            continue
        yield from [top] if top.is_file() else top.rglob("*")


def test_no_code_or_doc_cites_a_design_document_outside_the_repository():
    citing = []
    for path in _project_files():
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix not in {".py", ".md", ".html"} or relative in NOT_YET:
            continue
        if relative != "tests/loomworks/test_docs.py" and "DESIGN.md" in path.read_text():
            citing.append(relative)
    assert citing == []
