"""Checking exercises from inside a notebook: ``check_exercise("fgsm-step")``, or several in one run,
``check_exercises("fgsm-step", "projection")``.

It runs the exercise's visible grading tests on this copy, the way ``python -m helpers.homework grade .``
does (the code between the marker lines, spliced into the pristine files, in the sandbox), and prints one
line per test in plain words: passed, not written yet (with the exercise's hint), or failed (with the first
line of the message). No traceback. In the instructor's repository (solutions, not stubs) it checks the
solutions, so every check passes there.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .classroom import reference_submission
from .grade import grade
from .markers import MarkerError, scan
from .release import MANIFEST

NOT_WRITTEN = re.compile(r"NotImplementedError: exercise ([\w.-]+): (.*)")


@dataclass
class ExerciseCheck:
    """What :func:`check_exercise` found: one printed line per test."""

    name: str
    passed: int
    total: int
    lines: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def __repr__(self) -> str:
        return f"{self.name}: {self.passed} of {self.total} tests pass"


def _words(test: str) -> str:
    """``tests/test_x.py::test_l2_step_has_length_alpha`` -> "l2 step has length alpha"."""
    name = test.split("::")[-1]
    return name.removeprefix("test_").replace("_", " ")


def describe(outcome: str, message: str, exercise: str) -> tuple[str, str]:
    """One test's outcome in plain words: (status, reason); status is "passed", "not yet" or "failed"."""
    if outcome == "passed":
        return "passed", ""
    found = NOT_WRITTEN.search(message)
    if found:
        other = found[1]
        if other != exercise:
            return "not yet", f"waits for exercise {other} ({found[2]})"
        return "not yet", f"not written yet ({found[2]})"
    first = message.strip().splitlines()[0] if message.strip() else outcome
    return "failed", first[:300]


def package_root() -> Path:
    """The checkout this package was imported from (the instructor's repository, or a student's copy)."""
    return Path(__file__).resolve().parents[2]


def check_exercises(*names: str, root: Path | str | None = None, timeout: float = 60,
                    show: bool = True) -> list[ExerciseCheck]:
    """Run the visible grading tests of the exercises ``names`` on the copy at ``root`` (default: the copy
    this package was imported from), in one run, and print a line per test. Returns an
    :class:`ExerciseCheck` per name, in the order given. Raises ``ValueError`` for an unknown exercise,
    naming the known ones, and ``TypeError`` for a name that is not a string.
    """
    if not names:
        raise TypeError("name at least one exercise, e.g. check_exercises(\"fgsm-step\", \"projection\")")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"an exercise's name is a str (e.g. 'fgsm-step'), got {type(name).__name__}")
    root = Path(root).resolve() if root is not None else package_root()
    try:
        solutions = scan(root, require_tests=False).exercises  # the instructor's repository has markers
    except MarkerError as error:
        raise ValueError(str(error)) from None
    manifest = root / MANIFEST
    known = list(solutions) or (list(json.loads(manifest.read_text(encoding="utf-8"))["exercises"])
                                if manifest.is_file() else [])
    for name in names:
        if name not in known:
            raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(known) or 'none'}")
    with tempfile.TemporaryDirectory(prefix="homework-check-") as folder:
        copy = root
        if solutions:  # check the solutions as a student who wrote them all would hand them in (the tests
            copy = reference_submission(root, Path(folder) / "solved")  # of one may use another's code)
        result = grade(copy, tests_from=root, only=names, controls=False, hidden=False, timeout=timeout)
    checks = []
    for name in names:
        exercise = next(e for e in result.exercises if e.name == name)
        lines = []
        for test in exercise.tests:
            status, reason = describe(test.outcome, test.message, name)
            lines.append(f"  {status:8s} {_words(test.nodeid)}" + (f": {reason}" if reason else ""))
        lines += [f"  cannot use your code: {error}" for error in exercise.errors]
        check = ExerciseCheck(name, exercise.passed, len(exercise.tests), lines)
        if show:
            verdict = "done" if check.done else "not done yet"
            print(f"exercise {name}: {check.passed} of {check.total} tests pass ({verdict})")
            print("\n".join(lines))
        checks.append(check)
    return checks


def check_exercise(name: str, *, root: Path | str | None = None, timeout: float = 60,
                   show: bool = True) -> ExerciseCheck:
    """Run the visible grading tests of exercise ``name`` (see :func:`check_exercises`) and print a line per
    test. Returns an :class:`ExerciseCheck` (its ``done`` says whether every test passes)."""
    return check_exercises(name, root=root, timeout=timeout, show=show)[0]
