"""The committed notebooks read well before anyone runs them: executed in order, without errors."""

import json
import re
from pathlib import Path

import pytest

from helpers.homework import is_student_release

ROOT = Path(__file__).resolve().parent.parent

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_course_has_its_notebooks_numbered():
    names = [path.name for path in NOTEBOOKS]
    assert names and names[0] == "00_setup.ipynb"
    assert all(re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", name) for name in names), names


@pytest.mark.skipif(is_student_release(ROOT), reason="a student release: notebooks are handed out without outputs")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_in_order_without_errors(path):
    notebook = json.loads(path.read_text())
    counts = [cell["execution_count"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert counts and None not in counts, "some code cells were never executed"
    assert counts == list(range(1, len(counts) + 1)), "cells were executed out of order"
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"a committed output is an error: {output.get('ename')}"
            text = "".join(output.get("text", ""))
            assert "fast mode: True" not in text, "committed in fast mode; re-execute in full mode"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_images_that_notebooks_embed_exist(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "".join(cell["source"])):
                assert (path.parent / target).resolve().is_file(), f"{path.name} embeds a missing {target}"
