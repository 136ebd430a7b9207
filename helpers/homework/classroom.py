"""Grading a whole class: ``python -m helpers.homework grade-all SUBMISSIONS --out GRADES [--jobs N]``.

``SUBMISSIONS`` holds one folder or one ``.zip`` per student; the name (without ``.zip``) is the student's
id. For each student the grade goes to ``GRADES/students/ID.json`` as soon as it is known, with a
fingerprint of the submission and of the tests, so that a second run (after an interruption, or after
more submissions arrived) grades only what is new or changed. At the end ``GRADES/grades.csv`` (one row per
student, one column per exercise) and ``GRADES/summary.md`` / ``summary.json`` are written from all the
students' files. Scores do not depend on ``--jobs``: each submission is graded alone, in its own sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .grade import Template, grade, prepare_template
from .markers import Catalogue, scan
from .release import release
from .splice import find_blocks

SAFE_ID = re.compile(r"[^A-Za-z0-9_.@+-]")


@dataclass
class Summary:
    out: Path
    students: int
    graded: int  # in this run
    reused: int  # graded by an earlier run, unchanged since
    seconds_per_submission: float
    mean: float
    maximum_points: float
    flagged: list[str]
    with_errors: list[str]

    def text(self) -> str:
        lines = [f"{self.students} students: {self.graded} graded now, {self.reused} unchanged since an earlier run",
                 f"mean {self.mean:.2f} / {self.maximum_points:g}",
                 f"{self.seconds_per_submission:.1f} s per submission graded now" if self.graded else "",
                 f"flagged for review: {', '.join(self.flagged) or 'none'}",
                 f"with grading errors: {', '.join(self.with_errors) or 'none'}",
                 f"written to {self.out / 'grades.csv'}, {self.out / 'summary.md'} and {self.out / 'students'}/"]
        return "\n".join(line for line in lines if line)


def submissions_in(folder: Path) -> dict[str, Path]:
    """Student id -> submission (a folder or a .zip), in name order; hidden entries are left out."""
    found: dict[str, Path] = {}
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix == ".zip"):
            student = SAFE_ID.sub("_", entry.stem if entry.is_file() else entry.name)
            if student in found:
                raise ValueError(f"{entry} and {found[student]} are both student {student!r}: keep one")
            found[student] = entry
    return found


def fingerprint(path: Path) -> str:
    """SHA-256 over the names and bytes of the files of a folder (or of one file)."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [(os.fsencode(path.name), path)]
    else:
        files = []
        for folder, subfolders, names in os.walk(path, followlinks=False):
            subfolders.sort()
            for name in names:
                file = Path(folder) / name
                if file.is_file() and not file.is_symlink():
                    files.append((os.fsencode(file.relative_to(path)), file))  # any name, UTF-8 or not
        files.sort()
    for name, file in files:
        digest.update(name + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def grade_all(submissions: Path | str, out: Path | str, *, tests_from: Path | str, jobs: int = 1,
              timeout: float = 60, memory: int = 2048, layer: str | None = None, regrade: bool = False,
              progress=print) -> Summary:
    """Grade every submission in ``submissions`` with the tests of ``tests_from``; write the grade book to
    ``out``. ``jobs`` submissions are graded at once. Returns a :class:`Summary`."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {submissions}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    students_dir = out / "students"
    students_dir.mkdir(parents=True, exist_ok=True)
    found = submissions_in(submissions)
    with tempfile.TemporaryDirectory(prefix="homework-class-") as temporary:
        template = prepare_template(tests_from, Path(temporary) / "template")
        tests_print = fingerprint(template.path)
        todo, reused = [], 0
        for student, path in found.items():
            record = students_dir / f"{student}.json"
            try:
                print_ = fingerprint(path)
            except OSError as error:
                print_ = f"unreadable: {error}"
            if not regrade and record.is_file():
                try:
                    old = json.loads(record.read_text(encoding="utf-8"))
                    if old.get("fingerprint") == print_ and old.get("tests_fingerprint") == tests_print:
                        reused += 1
                        continue
                except (ValueError, OSError):
                    pass
            todo.append((student, path, print_))
        progress(f"{len(found)} submissions: {reused} unchanged since an earlier run, {len(todo)} to grade "
                 f"({jobs} at a time)")
        lock, done, start = threading.Lock(), 0, time.perf_counter()

        def one(student: str, path: Path, print_: str) -> dict:
            result = grade(path, template=template, timeout=timeout, memory=memory, layer=layer)
            record = {**result.as_json(), "student": student, "submission": path.name, "fingerprint": print_,
                      "tests_fingerprint": tests_print}
            _write_atomically(students_dir / f"{student}.json", json.dumps(record, indent=2) + "\n")
            return record

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(one, *task): task[0] for task in todo}
            for future in as_completed(futures):
                student = futures[future]
                try:
                    record = future.result()
                    line = f"{record['total']:g} / {record['max']:g} ({record['seconds']:.1f} s)" + \
                        (" flagged" if record["flagged"] else "") + (" errors" if record["errors"] else "")
                except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class
                    line = f"could not be graded: {error}"
                    print(f"{student}: {error}", file=sys.stderr)
                with lock:
                    done += 1
                    progress(f"[{done}/{len(todo)}] {student}: {line}")
        elapsed = time.perf_counter() - start
        return write_grade_book(out, list(found), template, graded=len(todo), reused=reused,
                                seconds=elapsed / len(todo) if todo else 0.0)


def write_grade_book(out: Path, students: list[str], template: Template, *, graded: int, reused: int,
                     seconds: float) -> Summary:
    """``grades.csv``, ``summary.json`` and ``summary.md`` from the students' JSON files."""
    exercises = list(template.points)
    records = {}
    for student in students:
        path = out / "students" / f"{student}.json"
        if path.is_file():
            records[student] = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for student in students:
        record = records.get(student)
        if record is None:
            rows.append([student, "", "", *["" for _ in exercises], "", "not graded"])
            continue
        scores = [record["exercises"].get(name, {}).get("score", 0) for name in exercises]
        rows.append([student, record["total"], record["max"], *scores, "yes" if record["flagged"] else "",
                     len(record["errors"]) + sum(bool(e["errors"]) for e in record["exercises"].values())])
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["student", "total", "max", *exercises, "flagged", "errors"])
    writer.writerows(rows)
    _write_atomically(out / "grades.csv", table.getvalue())
    totals = [r["total"] for r in records.values()]
    maximum = sum(template.points.values())
    flagged = sorted(s for s, r in records.items() if r["flagged"])
    with_errors = sorted(s for s, r in records.items() if r["errors"] or any(e["errors"] for e in r["exercises"].values()))
    per_exercise = {name: round(statistics.mean(r["exercises"].get(name, {}).get("score", 0) for r in records.values()), 2)
                    if records else 0.0 for name in exercises}
    summary = {"students": len(students), "graded": len(records), "max": maximum,
               "mean": round(statistics.mean(totals), 2) if totals else 0.0,
               "median": statistics.median(totals) if totals else 0.0,
               "min": min(totals, default=0.0), "max_total": max(totals, default=0.0),
               "per_exercise_mean": per_exercise, "flagged": flagged, "with_errors": with_errors,
               "sandboxes": sorted({r.get("sandbox", "") for r in records.values()})}
    _write_atomically(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    lines = ["# Grades", "", f"{len(records)} of {len(students)} students graded; mean {summary['mean']:g}, median "
             f"{summary['median']:g}, range {summary['min']:g}-{summary['max_total']:g} of {maximum:g} points.", "",
             f"Sandbox: {', '.join(summary['sandboxes']) or 'none'}.", "",
             "| exercise | points | class mean |", "|---|---|---|",
             *[f"| `{name}` | {template.points[name]:g} | {per_exercise[name]:g} |" for name in exercises], "",
             f"Flagged for review (code that reaches for the grading machinery; see each student's JSON, "
             f"`flags`): {', '.join(flagged) or 'none'}.", "",
             f"Grading errors (a region that could not be used, a time-out, a file that could not be read): "
             f"{', '.join(with_errors) or 'none'}.", ""]
    _write_atomically(out / "summary.md", "\n".join(lines))
    return Summary(out, len(students), graded, reused, seconds, summary["mean"], maximum, flagged, with_errors)


def reference_submission(root: Path | str, target: Path | str, exercises=None) -> Path:
    """Write to ``target`` what a student who solved ``exercises`` (default: all) would hand in: the
    release of ``root`` with the instructor's solution between the marker lines of those exercises. For
    testing a grader (Gradescope's "test autograder" wants one); never hand it out."""
    root, target = Path(root).resolve(), Path(target)
    catalogue = scan(root)
    wanted = set(catalogue.exercises) if exercises is None else set(exercises)
    unknown = wanted - set(catalogue.exercises)
    if unknown:
        raise ValueError(f"unknown exercises {sorted(unknown)}; known: {', '.join(catalogue.exercises)}")
    release(root, target)
    for path in sorted({r.path for r in catalogue.regions if r.kind == "SOLUTION"}):
        regions = [r for r in catalogue.regions_in(path) if r.kind == "SOLUTION"]
        if path.endswith(".ipynb"):
            notebook = nbformat.read(target / path, as_version=4)
            for index in sorted({r.cell for r in regions}):
                cell = notebook.cells[index]
                mine = [r for r in regions if r.cell == index]
                cell.source = "\n".join(_fill(cell.source.splitlines(), mine, wanted, path))
            nbformat.write(notebook, target / path)
        else:
            lines = _fill((target / path).read_text(encoding="utf-8").splitlines(), regions, wanted, path)
            (target / path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def exercises_through(catalogue: Catalogue, notebook: str) -> list[str]:
    """The exercises whose home notebook comes no later than ``notebook`` in the course (a notebook's path,
    file name or stem, or its number: ``"03"``): what a student who worked through the notebooks up to it has
    done. Raises ``ValueError`` when the repository has no homes or no such notebook."""
    if not catalogue.homes:
        raise ValueError("no exercise is checked in a notebook here, so exercises have no home notebook")
    notebooks = sorted({p.relative_to(catalogue.root).as_posix()
                        for p in (catalogue.root / "notebooks").glob("*.ipynb")} |
                       {h.notebook for h in catalogue.homes.values()})
    key = Path(str(notebook)).name.removesuffix(".ipynb")
    matches = [n for n in notebooks if Path(n).stem == key or Path(n).stem.split("_")[0] == key]
    if len(matches) != 1:
        raise ValueError(f"no single notebook {notebook!r}; the notebooks are: "
                         f"{', '.join(Path(n).stem for n in notebooks)}")
    return [name for name, home in catalogue.homes.items() if home.notebook <= matches[0]]


def solved_through(root: Path | str, target: Path | str, notebook: str) -> Path:
    """Write to ``target`` the copy of a student who solved exactly the exercises of the notebooks up to and
    including ``notebook`` (their home notebooks; see :func:`exercises_through`). The course promises that
    notebook ``notebook`` runs to its end in that copy (``tests/test_homework.py`` checks that promise)."""
    return reference_submission(root, target, exercises_through(scan(root), notebook))


def _fill(lines: list[str], regions: list, wanted: set[str], where: str) -> list[str]:
    """``lines`` (of one file, or one notebook cell) with the solution of each region of a ``wanted``
    exercise between its marker lines; ``regions`` are the solution regions of those lines, in order."""
    for region in sorted(regions, key=lambda r: -r.begin):  # from the bottom: the lines above stay put
        if region.exercise in wanted:
            occurrence = sum(r.exercise == region.exercise and r.begin < region.begin for r in regions)
            block = next(b for b in find_blocks(lines, where)
                         if (b.exercise, b.occurrence) == (region.exercise, occurrence))
            lines[block.line:block.line + len(block.body)] = region.body
    return lines
