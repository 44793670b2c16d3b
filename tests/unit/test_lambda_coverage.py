"""docs/coverage.md lists exactly the operations the Lambda facade serves, all of them in botocore's model."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.lambda_coverage import DOCUMENT, coverage, render

from lamina.api.services.lambda_.facade import IMPLEMENTED_OPERATIONS


def test_every_served_operation_exists_in_the_model() -> None:
    assert coverage()["unknown_to_the_model"] == []


def test_the_coverage_document_matches_the_operation_table() -> None:
    served = set(re.findall(r"^\| (\w+) \| yes \|$", DOCUMENT.read_text(), re.MULTILINE))
    assert served == IMPLEMENTED_OPERATIONS, "run: python scripts/lambda_coverage.py --write"


def test_render_states_the_figure(tmp_path: Path) -> None:
    report = coverage()
    text = render(report)
    assert f"**{report['implemented']} of {report['operations']} operations" in text
    assert "| Invoke | yes |" in text
