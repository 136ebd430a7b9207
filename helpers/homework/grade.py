"""Grading a submission: splice its exercise regions into the pristine release, run the tests in a sandbox.

The steps (see the README's "Homework" section for the threat model):

1. :func:`prepare_template` writes the pristine release of the instructor's repository once, with the
   instructor's tests (hidden tests included) and, apart, the students' visible tests.
2. :func:`helpers.homework.splice.splice` copies the template and puts the code between each pair of
   ``# YOUR CODE HERE`` / ``# END OF YOUR CODE`` lines of the submission in its place. Nothing else of the
   submission is used.
3. :func:`helpers.homework.sandbox.run_sandboxed` runs the tests, each in its own process, inside the
   strongest sandbox the machine offers, twice: the visible tests alone (their messages are shown), then
   the hidden tests (only their outcome word is kept: no message, exception type or time, and the run
   whose messages are shown has no hidden test to read). The first test of each exercise also runs as a
   control that must fail; a control reported as passed proves the report was forged, and the exercise
   scores 0.
4. Each exercise earns ``points * passed / tests``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .markers import TESTS_DIR, MarkerError, repository_files, scan
from .release import MANIFEST, release
from .sandbox import RunResult, run_sandboxed
from .splice import splice

VISIBLE_TESTS = ".visible-tests"  # in a template: the release's tests/, for the run whose messages are shown
HIDDEN_LINE_MIN = 16  # characters without spaces: a hidden test's line this long is never shown
SUBMISSION_LIMITS = {"files": 5000, "bytes": 200 * 2**20}


@dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed, failed, error, skipped, timeout, or "did not run"
    message: str = ""
    hidden: bool = False
    seconds: float = 0.0


@dataclass
class ExerciseScore:
    name: str
    points: float
    score: float
    passed: int
    tests: list[TestResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # why the submission's region could not be used
    flags: list[str] = field(default_factory=list)  # static findings for the instructor; no effect on the score


@dataclass
class Grade:
    student: str
    exercises: list[ExerciseScore]
    errors: list[str]
    sandbox: str = ""
    seconds: float = 0.0  # all of the grading: for the instructor only (it includes the hidden run)
    visible_seconds: float = 0.0  # the run of the visible tests: what a student may be shown

    @property
    def total(self) -> float:
        return round(sum(e.score for e in self.exercises), 2)

    @property
    def max_points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def flagged(self) -> bool:
        return any(e.flags for e in self.exercises)

    def as_json(self) -> dict:
        return {"student": self.student, "total": self.total, "max": self.max_points, "errors": self.errors,
                "flagged": self.flagged, "sandbox": self.sandbox, "seconds": round(self.seconds, 1),
                "visible_seconds": round(self.visible_seconds, 1),
                "exercises": {e.name: {**asdict(e), "tests": [asdict(t) for t in e.tests]} for e in self.exercises}}

    def table(self) -> str:
        width = max([len("exercise"), *(len(e.name) for e in self.exercises)])
        lines = [f"{'exercise':<{width}}  {'tests passed':>12}  {'score':>13}"]
        for e in self.exercises:
            note = "  (see errors)" if e.errors else ""
            lines.append(f"{e.name:<{width}}  {f'{e.passed} / {len(e.tests)}':>12}  "
                         f"{f'{e.score:g} / {e.points:g}':>13}{note}")
        lines.append(f"{'total':<{width}}  {'':>12}  {f'{self.total:g} / {self.max_points:g}':>13}")
        return "\n".join(lines)


@dataclass
class Template:
    """The pristine release with the grading tests: what every submission is spliced into."""

    path: Path
    points: dict[str, float]  # exercise -> points
    test_files: list[str]
    hidden: dict[str, list[tuple[int, int]]]  # test file -> line ranges of its hidden tests
    hidden_text: set[str]  # whitespace-free lines of the hidden tests, never shown

    @property
    def visible_tests(self) -> Path:
        """The test files as the students have them (hidden tests removed)."""
        return self.path / VISIBLE_TESTS


def _squash(line: str) -> str:
    return "".join(line.split())


def prepare_template(tests_from: Path | str, target: Path | str) -> Template:
    """Write the grading template of ``tests_from`` to ``target`` (which must not exist).

    ``tests_from`` is the instructor's repository (solution markers; the template is its release, with
    the instructor's own tests, hidden ones included) or a student release (a student checking their own
    copy: the template is that copy, with its visible tests).
    """
    tests_from, target = Path(tests_from).resolve(), Path(target)
    catalogue = scan(tests_from, require_tests=False)
    if catalogue.exercises:
        catalogue = scan(tests_from)
        release(tests_from, target)
        if (target / TESTS_DIR).is_dir():
            shutil.move(target / TESTS_DIR, target / VISIBLE_TESTS)
        for name in repository_files(tests_from):
            if name.split("/")[0] in (TESTS_DIR, "conftest.py", "pyproject.toml"):
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tests_from / name, target / name)
        points = {name: e.points for name, e in catalogue.exercises.items()}
    elif (tests_from / MANIFEST).is_file():
        for name in repository_files(tests_from):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tests_from / name, target / name)
        if not (target / VISIBLE_TESTS).is_dir() and (target / TESTS_DIR).is_dir():
            shutil.copytree(target / TESTS_DIR, target / VISIBLE_TESTS)  # a student's copy: all are visible
        manifest = json.loads((tests_from / MANIFEST).read_text(encoding="utf-8"))
        points = {name: float(spec["points"]) for name, spec in manifest["exercises"].items()}
    else:
        raise MarkerError(f"{tests_from}: no exercises (no BEGIN SOLUTION markers and no {MANIFEST})")
    hidden: dict[str, list[tuple[int, int]]] = {}
    hidden_text = set()
    for region in catalogue.regions:
        if region.kind == "HIDDEN TESTS":
            hidden.setdefault(region.path, []).append((region.begin, region.end))
            hidden_text |= {_squash(line) for line in region.body if len(_squash(line)) >= HIDDEN_LINE_MIN}
    test_files = sorted({t.path for t in catalogue.tests if t.exercise in points})
    return Template(target, points, test_files, hidden, hidden_text)


def _tests_for(workspace: Path, kind: str) -> None:
    """Leave in ``workspace`` only the tests of one run: the students' visible tests (the run whose messages
    are shown), or the full tests with the hidden ones (the run that reports outcomes only)."""
    visible = workspace / VISIBLE_TESTS
    if kind == "visible" and visible.is_dir():
        shutil.rmtree(workspace / TESTS_DIR, ignore_errors=True)
        visible.rename(workspace / TESTS_DIR)
    else:
        shutil.rmtree(visible, ignore_errors=True)


def _redact(text: str, template: Template) -> str:
    if not template.hidden_text:
        return text
    lines = []
    for line in text.splitlines():
        squashed = _squash(line)
        if any(hidden in squashed for hidden in template.hidden_text):
            line = "[a line of a hidden test was removed]"
        lines.append(line)
    return "\n".join(lines)


def extract_submission(archive: Path, target: Path) -> None:
    """Unpack a zip submission safely: no absolute paths, no ``..``, no links, limits on count and size."""
    with zipfile.ZipFile(archive) as handle:
        members = handle.infolist()
        if len(members) > SUBMISSION_LIMITS["files"]:
            raise ValueError(f"{archive.name}: {len(members)} files in the zip (at most {SUBMISSION_LIMITS['files']})")
        if sum(m.file_size for m in members) > SUBMISSION_LIMITS["bytes"]:
            raise ValueError(f"{archive.name}: more than {SUBMISSION_LIMITS['bytes'] // 2**20} MiB unpacked")
        for member in members:
            name = member.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or ".." in parts or (member.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # unsafe or a link: left out
            destination = target.joinpath(*parts) if parts else target
            if member.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with handle.open(member) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)


def _submission_root(folder: Path) -> Path:
    """A zip often holds one folder with the copy inside: grade that folder."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def grade(student: Path | str, *, tests_from: Path | str | None = None, template: Template | None = None,
          timeout: float = 60, memory: int = 2048, layer: str | None = None,
          only: str | Iterable[str] | None = None, controls: bool = True, hidden: bool = True) -> Grade:
    """Grade the submission at ``student`` (a folder or a ``.zip``) with the exercise tests of ``tests_from``
    (the instructor's repository, hidden tests included; or a student release, to check one's own copy).
    Pass a prepared ``template`` instead to grade many submissions against one release.

    Each test runs in its own process with ``timeout`` seconds and ``memory`` MiB, inside the sandbox
    ``layer`` (default: the strongest this machine offers). The student's folder is only read. ``only``
    grades one exercise or a few (the others are left out of the result); ``controls=False`` skips the control runs
    and ``hidden=False`` the hidden tests (for a quick check of one's own work, which grades nothing).
    """
    start = time.perf_counter()
    only = None if only is None else ({only} if isinstance(only, str) else set(only))
    student = Path(student).resolve()
    if not student.exists():
        raise FileNotFoundError(f"no submission at {student}")
    if student.is_file() and student.suffix != ".zip":
        raise ValueError(f"{student}: give a folder or a .zip file")
    with tempfile.TemporaryDirectory(prefix="homework-grade-") as temporary:
        temporary = Path(temporary)  # 0700: the template (hidden tests included) stays out of the tests' reach
        runs_dir = temporary / "runs"
        runs_dir.mkdir()
        runs_dir.chmod(0o755)  # the tests may run as nobody: they must reach the graded copy, and only it
        if template is None:
            if tests_from is None:
                raise ValueError("give tests_from (the instructor's repository) or a prepared template")
            template = prepare_template(tests_from, temporary / "template")
        errors: list[str] = []
        source = student
        if student.is_file():
            source = temporary / "unpacked"
            source.mkdir()
            try:
                extract_submission(student, source)
            except (zipfile.BadZipFile, ValueError, OSError) as error:
                errors.append(f"{student.name}: cannot read the zip ({error})")
            source = _submission_root(source)
        runs, shown_seconds = {}, 0.0
        for kind in ("visible", "hidden"):
            if kind == "hidden" and (not template.hidden or not hidden):
                continue
            workspace = runs_dir / kind
            report = splice(template.path, source, workspace)  # the same splice both times
            _tests_for(workspace, kind)
            selection = [] if kind == "visible" else [f"--select-lines={path}:{begin}:{end}"
                                                      for path, ranges in template.hidden.items()
                                                      for begin, end in ranges]
            if only is not None:
                selection.append(f"--only-exercise={','.join(sorted(only))}")
            if template.test_files:
                started = time.perf_counter()
                runs[kind] = run_sandboxed(workspace, template.test_files, timeout=timeout, memory=memory,
                                           layer=layer, extra=selection, controls=controls)
                if kind == "visible":
                    shown_seconds = time.perf_counter() - started
            else:
                runs[kind] = RunResult([], layer or "", 0, "", [f"no grading tests under {TESTS_DIR}/"])
            shutil.rmtree(workspace, ignore_errors=True)
    scores = []
    visible, hidden_run = runs["visible"], runs.get("hidden")
    errors.extend(_redact(e, template) for e in visible.errors)
    if hidden_run is not None and hidden_run.errors:
        errors.append("the run of the hidden tests stopped early; its details are not shown")
    for run, shown in ((visible, True), (hidden_run, False)):
        if run is None:
            continue
        done = [r for r in run.records if r.get("kind") == "done"]
        if done and done[-1].get("code") not in (0, 1, 5):  # 5: no tests collected, reported below
            tail = "\n".join(run.output.strip().splitlines()[-15:]) if shown else "(hidden)"
            errors.append(f"pytest stopped with exit code {done[-1]['code']}:\n{_redact(tail, template)}")
    collected = [{**r, "hidden": False} for r in visible.records if r.get("kind") == "collected"]
    results = {r["nodeid"]: r for r in visible.records if r.get("kind") == "result"}
    broken = [r for r in visible.records if r.get("kind") == "collect-error"]
    control_runs = [r for r in visible.records if r.get("kind") == "control"]
    if hidden_run is not None:
        collected += [{**r, "hidden": True} for r in hidden_run.records if r.get("kind") == "collected"]
        results.update({r["nodeid"]: {"outcome": r["outcome"]} for r in hidden_run.records
                        if r.get("kind") == "result"})  # the outcome word only: no message, no time
        broken += [{"nodeid": r["nodeid"], "message": "(hidden)"} for r in hidden_run.records
                   if r.get("kind") == "collect-error"]
        control_runs += [r for r in hidden_run.records if r.get("kind") == "control"]
    for record in broken:
        errors.append(f"{record['nodeid']} could not be collected: {_redact(record.get('message', ''), template)}")
    forged = {r["exercise"] for r in control_runs if r.get("outcome") == "passed"}
    for name, points in template.points.items():
        if only is not None and name not in only:
            continue
        tests = []
        for record in collected:
            if record["exercise"] != name:
                continue
            hidden = record["hidden"]
            result = results.get(record["nodeid"])
            if result is None:
                tests.append(TestResult(record["nodeid"], "did not run", "the run stopped before this test", hidden))
                continue
            outcome, message = result["outcome"], result.get("message", "")
            if hidden:
                message = "" if outcome == "passed" else outcome
            tests.append(TestResult(record["nodeid"], outcome, _redact(message, template), hidden,
                                    0.0 if hidden else float(result.get("seconds", 0.0))))
            if outcome == "timeout":
                errors.append(f"{record['nodeid']}: {message}" if not hidden else
                              f"{record['nodeid']}: stopped at the time limit per test (a hidden test)")
        for path in sorted({r["nodeid"].split("::")[0] for r in broken} & set(template.test_files)):
            tests.append(TestResult(path, "error", "this test file could not be collected"))
        passed = sum(t.outcome == "passed" for t in tests)
        unusable = list(report.errors.get(name, []))
        flags = list(report.flags.get(name, []))
        if name in forged:
            unusable.append("a control run of this exercise's test, which must fail, was reported as passed: "
                            "the code tampered with the test's report")
            flags.append("tampering proven by a control run (score 0)")
        score = 0.0 if unusable or not tests else round(points * passed / len(tests), 2)
        scores.append(ExerciseScore(name, points, score, passed, tests, unusable, flags))
    for name in sorted((only if only else set(template.points)) - {r["exercise"] for r in collected}):
        if not broken:
            errors.append(f"exercise {name}: no grading test was collected")
    return Grade(str(student), scores, errors, visible.layer, time.perf_counter() - start, shown_seconds)
