"""Grading a student's copy: the instructor's exercise tests run against the student's code, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .markers import TESTS_DIR, Catalogue, Exercise, MarkerError, repository_files, scan
from .release import MANIFEST

PLUGIN = "homework_grading_plugin"
OVERLAID = (TESTS_DIR, "conftest.py", "pyproject.toml")  # the instructor's, whatever the student's copy holds
OUTCOME_ORDER = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed, failed, error, skipped (a skipped test earns nothing), or "did not run"
    message: str = ""


@dataclass
class ExerciseScore:
    name: str
    points: float
    score: float
    passed: int
    tests: list[TestResult] = field(default_factory=list)


@dataclass
class Grade:
    student: str
    exercises: list[ExerciseScore]
    errors: list[str]

    @property
    def total(self) -> float:
        return round(sum(e.score for e in self.exercises), 2)

    @property
    def max_points(self) -> float:
        return sum(e.points for e in self.exercises)

    def as_json(self) -> dict:
        return {"student": self.student, "total": self.total, "max": self.max_points, "errors": self.errors,
                "exercises": {e.name: {**asdict(e), "tests": [asdict(t) for t in e.tests]} for e in self.exercises}}

    def table(self) -> str:
        width = max([len("exercise"), *(len(e.name) for e in self.exercises)])
        lines = [f"{'exercise':<{width}}  {'tests passed':>12}  {'score':>13}"]
        for e in self.exercises:
            lines.append(f"{e.name:<{width}}  {f'{e.passed} / {len(e.tests)}':>12}  "
                         f"{f'{e.score:g} / {e.points:g}':>13}")
        lines.append(f"{'total':<{width}}  {'':>12}  {f'{self.total:g} / {self.max_points:g}':>13}")
        return "\n".join(lines)


def exercises_of(root: Path) -> Catalogue:
    """The exercises and their tests: from the markers of an instructor's repository, or from the manifest
    of a student release (whose markers are gone) together with its visible tests."""
    catalogue = scan(root, require_tests=False)
    if catalogue.exercises or not (root / MANIFEST).is_file():
        return scan(root)
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    exercises = {name: Exercise(name, float(spec["points"])) for name, spec in manifest["exercises"].items()}
    for test in catalogue.tests:
        if test.exercise in exercises:
            exercises[test.exercise].tests.append(test)
    return Catalogue(root, [], exercises, [t for t in catalogue.tests if t.exercise in exercises])


def _copy(files: list[str], source: Path, target: Path) -> None:
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def _read_report(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut short when the run was stopped
    return records


def _outcomes(records: list[dict]) -> dict[str, TestResult]:
    results: dict[str, TestResult] = {}
    for record in records:
        if record["kind"] != "report":
            continue
        outcome = record["outcome"]
        if outcome == "failed" and record["when"] != "call":
            outcome = "error"
        current = results.get(record["nodeid"])
        if current is None or OUTCOME_ORDER[outcome] > OUTCOME_ORDER[current.outcome]:
            results[record["nodeid"]] = TestResult(record["nodeid"], outcome, record.get("message", ""))
    return results


def run_tests(copy: Path, tests: list[str], report: Path, *, timeout: float, extra: list[str] = ()) -> tuple[int, str]:
    """Run pytest on ``tests`` in ``copy`` with the grading plugin; returns (exit code, output tail)."""
    plugin_dir = Path(tempfile.mkdtemp(prefix="homework-plugin-"))
    shutil.copy2(Path(__file__).with_name("_pytest_plugin.py"), plugin_dir / f"{PLUGIN}.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(plugin_dir)]),
           "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "COURSE_FAST_MODE": "1"}
    command = [sys.executable, "-m", "pytest", *tests, "-p", PLUGIN, "--homework-report", str(report),
               "--homework-expect-root", str(copy), "-q", "--no-header", "-p", "no:cacheprovider",
               "-n", "0", *extra]  # one process: the report plugin sees every test itself
    process = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        code = -1
        output += f"\n(stopped after {timeout:g} s)"
    finally:
        shutil.rmtree(plugin_dir, ignore_errors=True)
    return code, output[-4000:]


def grade(student: Path | str, *, tests_from: Path | str, timeout: float = 900) -> Grade:
    """Grade the copy at ``student`` with the exercise tests of ``tests_from`` (the instructor's repository,
    hidden tests included). The student's folder is not modified: the tests run on a temporary copy of it
    whose ``tests/``, ``conftest.py`` and ``pyproject.toml`` are the instructor's.

    An exercise earns ``points * passed / tests``: a share for each of its tests that passes (failed,
    erroring, skipped and unfinished tests earn nothing).
    """
    student, tests_from = Path(student).resolve(), Path(tests_from).resolve()
    if not student.is_dir():
        raise FileNotFoundError(f"no student copy at {student}")
    catalogue = exercises_of(tests_from)
    if not catalogue.exercises:
        raise MarkerError(f"{tests_from}: no exercises (no BEGIN SOLUTION markers and no {MANIFEST})")
    test_files = sorted({t.path for t in catalogue.tests})
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="homework-grade-") as temporary:
        copy = Path(temporary) / "copy"
        copy.mkdir()
        _copy([f for f in repository_files(student) if f.split("/")[0] not in OVERLAID], student, copy)
        _copy([f for f in repository_files(tests_from) if f.split("/")[0] in OVERLAID], tests_from, copy)
        report = Path(temporary) / "report.jsonl"
        code, output = 0, ""
        if test_files:
            code, output = run_tests(copy, test_files, report, timeout=timeout, extra=["--homework-exercises-only"])
        else:
            errors.append(f"{tests_from}: no grading tests under {TESTS_DIR}/")
        records = _read_report(report)
    collected = {r["nodeid"]: r["exercise"] for r in records if r["kind"] == "collected"}
    outcomes = _outcomes(records)
    broken = {}
    for record in records:
        if record["kind"] == "collect-error":
            broken[record["nodeid"]] = record["message"]
            errors.append(f"{record['nodeid']} could not be collected: {record['message']}")
        elif record["kind"] == "fatal":
            errors.append(record["message"])
    if code not in (0, 1) and not outcomes:
        errors.append(f"pytest exited with code {code}:\n{output}")
    scores = []
    for name, exercise in catalogue.exercises.items():
        results = [outcomes.get(nodeid, TestResult(nodeid, "did not run", "the run stopped before this test"))
                   for nodeid, of in collected.items() if of == name]
        for path in sorted({t.path for t in exercise.tests} & set(broken)):
            results.append(TestResult(path, "error", f"collection error: {broken[path]}"))
        passed = sum(r.outcome == "passed" for r in results)
        score = round(exercise.points * passed / len(results), 2) if results else 0.0
        scores.append(ExerciseScore(name, exercise.points, score, passed, results))
    return Grade(str(student), scores, errors)
