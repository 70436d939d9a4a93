"""docs/http-api.md is the contract: every documented answer and decision has a
test that says so with `@pytest.mark.documents("<anchor>", ...)`.

Read from the sources (no server needed): the anchors of the page, and the
marker arguments of every test module under tests/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTTP_API_MD = ROOT / "docs" / "http-api.md"

# Anchors of headings, not of answers: nothing to test under these names.
SECTIONS = {
    "conventions", "the-job-object", "post-jobs", "get-job", "post-want-job", "put-job",
    "put-jobs", "delete-job", "meta", "any-request", "errors", "callbacks", "settings",
    "decisions",
    "dashboard",
    # retries
    "cancel-job", "retry-job",
    "retries", "get-attempts",
    # events
    "log",
    # queues
    "queues", "get-jobs", "post-jobs-bulk",
    # events
    "events", "metrics",
    # auth
    "auth", "tokens", "whoami",
}


def doc_anchors() -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', HTTP_API_MD.read_text()))


def _is_documents_marker(node: ast.expr) -> bool:
    """`pytest.mark.documents` (the callee of the decorator call)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "documents"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    )


def cited_anchors() -> dict[str, list[str]]:
    """anchor -> the tests citing it ("path::name")."""
    cited: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and _is_documents_marker(decorator.func):
                    for arg in decorator.args:
                        assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                            f"{path}:{decorator.lineno}: documents() takes anchor strings")
                        where = f"{path.relative_to(ROOT)}::{node.name}"
                        cited.setdefault(arg.value, []).append(where)
    return cited


def test_the_section_list_names_headings_of_the_page() -> None:
    assert doc_anchors() >= SECTIONS


def test_every_documented_answer_and_decision_has_a_test() -> None:
    answers = doc_anchors() - SECTIONS
    assert len(answers) >= 40  # the parse found the page's anchors
    missing = sorted(answers - set(cited_anchors()))
    assert not missing, f"no test cites these docs/http-api.md anchors: {missing}"


def test_every_cited_anchor_exists_in_the_page() -> None:
    cited = cited_anchors()
    unknown = {a: cited[a] for a in sorted(set(cited) - (doc_anchors() - SECTIONS))}
    assert not unknown, f"tests cite anchors that are not answers in docs/http-api.md: {unknown}"
