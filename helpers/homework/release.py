"""Writing the student release: solutions stubbed, hidden tests removed, notebook outputs cleared."""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .markers import Catalogue, MarkerError, Region, cell_source, repository_files, scan

MANIFEST = "homework.json"
STUDENT_SHEET = "HOMEWORK.md"
YOUR_CODE_HERE = "# YOUR CODE HERE"
# The leak check skips lines this short: at 20 characters a line is shared vocabulary (`delta = x_adv - x`,
# `if norm == "linf":`, `generator=generator)`), not a solution.
SHORTEST_LEAK = 21


@dataclass
class Release:
    outdir: Path
    catalogue: Catalogue
    files: int
    stubbed_files: list[str]


def stub_message(region: Region) -> str:
    return f"exercise {region.exercise}: {region.hint or 'write this part (see the docstring)'}"


def _raise_line(region: Region) -> str:
    # json.dumps writes a valid Python string literal (double quotes, escapes).
    return f"{region.indent}raise NotImplementedError({json.dumps(stub_message(region), ensure_ascii=False)})"


def _replace(lines: list[str], regions: list[Region], stub) -> list[str]:
    """``lines`` with each region (marker lines included) replaced by ``stub(region)`` (a list of lines)."""
    result, position = [], 0
    for region in sorted(regions, key=lambda r: r.begin):
        result.extend(lines[position:region.begin - 1])
        replacement = stub(region)
        result.extend(replacement)
        position = region.end
        if not replacement and len(result) >= 2 and not result[-1].strip() and not result[-2].strip():
            while position < len(lines) and not lines[position].strip():  # no third blank line in a row
                position += 1
    result.extend(lines[position:])
    return result


def release_python(text: str, regions: list[Region], path: str) -> str:
    """Solutions become ``raise NotImplementedError("exercise NAME: hint")``; hidden tests disappear."""
    lines = text.splitlines()
    new = _replace(lines, regions, lambda r: [_raise_line(r)] if r.kind == "SOLUTION" else [])
    released = "\n".join(new) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(released)
    except SyntaxError as error:
        first = min(regions, key=lambda r: r.begin)
        raise MarkerError(f"{first.where}: without its marked regions {path} is no longer valid Python "
                          f"(line {error.lineno}: {error.msg}); a hidden-tests region must hold whole tests, "
                          "decorators included") from None
    return released


def release_notebook(notebook: nbformat.NotebookNode, regions: list[Region]) -> nbformat.NotebookNode:
    """Solutions become ``# YOUR CODE HERE`` and a ``raise``; every output and execution count is cleared."""
    by_cell: dict[int, list[Region]] = {}
    for region in regions:
        by_cell.setdefault(region.cell, []).append(region)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        if index in by_cell:
            lines = cell_source(cell).splitlines()
            cell.source = "\n".join(_replace(lines, by_cell[index], lambda r: [
                f"{r.indent}{YOUR_CODE_HERE} (exercise {r.exercise})", _raise_line(r)]))
            cell.metadata["homework"] = {"exercises": sorted({r.exercise for r in by_cell[index]})}
    notebook.metadata.pop("widgets", None)  # saved widget state belongs to the cleared outputs
    return notebook


def normalise(line: str) -> str:
    """A line without its indentation and its trailing ``  # comment``."""
    return line.split("  # ")[0].strip()


def solution_lines(catalogue: Catalogue) -> dict[str, Region]:
    """Each line of every solution body that the leak check looks for (normalised; comments and lines
    shorter than ``SHORTEST_LEAK`` left out), with the first region that holds it."""
    lines: dict[str, Region] = {}
    for region in catalogue.regions:
        if region.kind == "SOLUTION":
            for line in map(normalise, region.body):
                if len(line) >= SHORTEST_LEAK and not line.startswith("#"):
                    lines.setdefault(line, region)
    return lines


def text_lines(path: Path) -> list[str] | None:
    """The lines of a text file (for a notebook: of its cells), or None for a binary file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    lines = text.splitlines()
    if path.suffix == ".ipynb":
        try:
            for cell in json.loads(text).get("cells", []):
                lines.extend(cell_source(cell).splitlines())
        except (json.JSONDecodeError, AttributeError):
            pass
    return lines


def find_leaks(catalogue: Catalogue, outdir: Path) -> list[str]:
    """Places in ``outdir`` where a line of a solution appears (see :func:`solution_lines`). Empty for a
    good release."""
    wanted = solution_lines(catalogue)
    leaks = []
    for name in sorted(p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()):
        for number, line in enumerate(text_lines(outdir / name) or [], 1):
            region = wanted.get(normalise(line))
            if region is not None:
                leaks.append(f"{name}:{number}: {line.strip()!r} (solution of {region.exercise}, {region.where})")
    return leaks


def _manifest(catalogue: Catalogue) -> dict:
    return {
        "exercises": {
            name: {"points": exercise.points, "where": sorted({r.location for r in exercise.regions}),
                   "hints": [r.hint for r in exercise.regions if r.hint]}
            for name, exercise in sorted(catalogue.exercises.items())
        },
        "total_points": sum(e.points for e in catalogue.exercises.values()),
    }


def _student_sheet(catalogue: Catalogue) -> str:
    rows = [f"| `{name}` | {e.points:g} | {'; '.join(sorted({r.location for r in e.regions}))} |"
            for name, e in sorted(catalogue.exercises.items(), key=lambda item: item[1].regions[0].path)]
    total = sum(e.points for e in catalogue.exercises.values())
    return "\n".join([
        "# Homework", "",
        "Each exercise below is a function body (or a notebook cell) that raises `NotImplementedError` or says",
        "`# YOUR CODE HERE`. Replace it with your code; the error message carries a hint. Check your work with",
        "", "```bash", "python -m helpers.homework grade .", "```", "",
        "which runs the visible tests of every exercise and prints your score (the instructor grades with more",
        "tests). `pytest -m exercise` runs the same tests with pytest's full report.", "",
        "| exercise | points | where |", "|---|---|---|", *rows, "", f"Total: {total:g} points.", "",
    ])


def release(root: Path | str, outdir: Path | str) -> Release:
    """Write the student copy of the repository at ``root`` to ``outdir`` (which must not exist or be empty).

    Raises :class:`MarkerError` for a bad marker, an exercise without tests, or a solution line that would
    leak into the release (the partial release is left in ``outdir`` to look at).
    """
    root, outdir = Path(root).resolve(), Path(outdir).resolve()
    if outdir.exists() and any(outdir.iterdir()):
        raise FileExistsError(f"{outdir} exists and is not empty; give a new folder for the release")
    catalogue = scan(root)
    if not catalogue.exercises:
        raise MarkerError(f"{root}: no BEGIN SOLUTION marker found, nothing to release")
    files, stubbed = repository_files(root), []
    outdir.mkdir(parents=True, exist_ok=True)
    for name in files:
        source, target = root / name, outdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        regions = catalogue.regions_in(name)
        if name.endswith(".ipynb"):
            notebook = nbformat.read(source, as_version=4)
            nbformat.write(release_notebook(notebook, regions), target)
        elif regions:
            target.write_text(release_python(source.read_text(encoding="utf-8"), regions, name), encoding="utf-8")
        else:
            shutil.copy2(source, target)
        if any(r.kind == "SOLUTION" for r in regions):
            stubbed.append(name)
    (outdir / MANIFEST).write_text(json.dumps(_manifest(catalogue), indent=2) + "\n", encoding="utf-8")
    (outdir / STUDENT_SHEET).write_text(_student_sheet(catalogue), encoding="utf-8")
    left = scan(outdir, require_tests=False).regions
    if left:
        raise MarkerError(f"{left[0].where}: a marker survived the release")
    leaks = find_leaks(catalogue, outdir)
    if leaks:
        raise MarkerError("solution lines appear in the release (mark them too, or write them differently "
                          "outside the solution):\n  " + "\n  ".join(leaks[:20]))
    return Release(outdir, catalogue, len(files), stubbed)


def is_student_release(root: Path | str) -> bool:
    """True for a copy written by :func:`release` (its notebooks are not executed, its solutions stubbed)."""
    return (Path(root) / MANIFEST).is_file()
