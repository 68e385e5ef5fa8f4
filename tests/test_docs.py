"""The docs a newcomer reads first stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.states import mermaid_diagram

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_state_diagram_is_the_transition_table() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- state-diagram.*?```mermaid\n(.*?)```", readme, re.S)
    assert found, "README.md lost its state diagram"
    assert found.group(1).strip() == mermaid_diagram(), (
        "README.md's diagram differs from TRANSITIONS: paste the output of"
        " `python -c 'from orchestrator.states import mermaid_diagram; print(mermaid_diagram())'`"
    )


def test_the_readme_links_to_docs_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "README.md links no docs"
    for link in links:
        assert (ROOT / link).is_file(), link
