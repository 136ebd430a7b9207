"""A Gradescope autograder: ``python -m helpers.homework gradescope OUT.zip``.

The zip holds, at its root, what Gradescope's autograder specification asks for
(https://gradescope-autograders.readthedocs.io/en/latest/specs/):

- ``setup.sh``: run once, as root, when Gradescope builds the image: installs Debian's bubblewrap and a
  virtual environment with the course's dependencies (CPU torch). The course package itself is *not*
  installed, so nothing but the graded copy can provide ``helpers``.
- ``run_autograder``: run for each submission: grades ``/autograder/submission`` (the files the student
  uploaded: their copy, or just the files they edited) and writes ``/autograder/results/results.json``.
- ``template/``: the pristine release with the instructor's tests, hidden tests included. Submissions are
  spliced into it; the grader itself runs from it.
- ``requirements.txt``: the dependencies, from ``pyproject.toml``.

``results.json`` has one entry per test: ``name`` ("exercise: test"), ``score``, ``max_score`` (the
exercise's points shared among its tests), ``status``, ``output`` (the failure message of a visible test;
only the outcome word of a hidden test), ``visibility`` (``visible``, or ``after_published`` for hidden
tests), ``tags`` (the exercise). ``execution_time`` is the visible run's. Reasons a region could not be used go to the tests' ``output`` and
the top-level ``output``; tamper flags go to ``extra_data`` (seen by the instructor only).

Every path can be moved for a test run: ``AUTOGRADER_ROOT`` (default ``/autograder``) and
``AUTOGRADER_PYTHON`` (default ``$AUTOGRADER_ROOT/venv/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from .grade import Grade, grade, prepare_template

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install --quiet -r /autograder/source/requirements.txt pytest
"""
RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission. AUTOGRADER_ROOT and AUTOGRADER_PYTHON move it for a test run.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
chmod -R go-rwx "$ROOT/source"  # the hidden tests: out of reach of the tests, which run as nobody
cd "$ROOT/source/template"
exec "$PYTHON" -m helpers.homework.gradescope run --template "$ROOT/source/template" \\
    --submission "$ROOT/submission" --results "$ROOT/results/results.json"
"""


def write_autograder(root: Path | str, zip_path: Path | str) -> Path:
    """Write the autograder zip of the instructor's repository ``root`` to ``zip_path``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    root, zip_path = Path(root).resolve(), Path(zip_path).resolve()
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    requirements = [d for d in project.get("dependencies", []) if not d.startswith(("torch", "torchvision"))]
    with tempfile.TemporaryDirectory(prefix="homework-gradescope-") as temporary:
        template = prepare_template(root, Path(temporary) / "template")
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        partial = zip_path.with_name(f".{zip_path.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFREG | 0o755) << 16
                archive.writestr(info, text)
            archive.writestr("requirements.txt", "\n".join(requirements) + "\n")
            for path in sorted(template.path.rglob("*")):
                if path.is_file():
                    archive.write(path, f"template/{path.relative_to(template.path).as_posix()}")
        os.replace(partial, zip_path)
    return zip_path


def results_json(result: Grade) -> dict:
    """The grade in Gradescope's ``results.json`` format (one entry per test)."""
    tests, number = [], 0
    problems = []
    for exercise in result.exercises:
        share = exercise.points / len(exercise.tests) if exercise.tests else 0.0
        unusable = "\n".join(exercise.errors)
        if unusable:
            problems.append(f"{exercise.name}: {unusable}")
        for test in exercise.tests:
            number += 1
            passed = test.outcome == "passed" and not exercise.errors
            if test.hidden:
                output = "passed" if passed else f"hidden test: {test.message or test.outcome}"
            else:
                output = "passed" if passed else (test.message or test.outcome)
            if unusable:
                output = f"your code for this exercise could not be used: {unusable}"
            tests.append({"name": f"{exercise.name}: {test.nodeid.split('::')[-1]}", "number": str(number),
                          "score": round(share, 4) if passed else 0.0, "max_score": round(share, 4),
                          "status": "passed" if passed else "failed", "output": output[:4000],
                          "visibility": "after_published" if test.hidden else "visible",
                          "tags": [exercise.name]})
        if not exercise.tests:
            number += 1
            tests.append({"name": f"{exercise.name}: no test ran", "number": str(number), "score": 0.0,
                          "max_score": exercise.points, "status": "failed", "visibility": "visible",
                          "output": unusable or "no grading test of this exercise ran", "tags": [exercise.name]})
    output = [f"Total: {result.total:g} / {result.max_points:g} points."]
    if problems:
        output.append("Some of your code could not be used:\n" + "\n".join(problems))
    if result.errors:
        output.append("Grading problems:\n" + "\n".join(result.errors))
    # The time of the visible run only: the hidden run's time would tell students about the hidden tests.
    return {"score": result.total, "execution_time": round(result.visible_seconds, 1), "output": "\n\n".join(output),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"sandbox": result.sandbox, "flags": {e.name: e.flags for e in result.exercises if e.flags}}}


def validate_results(results: dict) -> list[str]:
    """Problems with a ``results.json`` against Gradescope's documented format (empty if none)."""
    problems = []
    if not isinstance(results.get("tests"), list):
        return ["'tests' must be a list"]
    total = 0.0
    for index, test in enumerate(results["tests"]):
        where = f"tests[{index}]"
        for key, kind in (("name", str), ("output", str), ("visibility", str)):
            if not isinstance(test.get(key), kind):
                problems.append(f"{where}.{key} must be a {kind.__name__}")
        for key in ("score", "max_score"):
            if not isinstance(test.get(key), (int, float)) or test[key] < 0:
                problems.append(f"{where}.{key} must be a number >= 0")
        if isinstance(test.get("score"), (int, float)) and isinstance(test.get("max_score"), (int, float)) \
                and test["score"] > test["max_score"] + 1e-9:
            problems.append(f"{where}: score above max_score")
        if test.get("visibility") not in VISIBILITIES:
            problems.append(f"{where}.visibility {test.get('visibility')!r} is not one of {sorted(VISIBILITIES)}")
        if test.get("status") not in (None, "passed", "failed"):
            problems.append(f"{where}.status must be 'passed' or 'failed'")
        total += test.get("score", 0) if isinstance(test.get("score"), (int, float)) else 0
    if "score" in results and abs(results["score"] - total) > 0.01 * max(1, len(results["tests"])):
        problems.append(f"score {results['score']} is not the sum of the tests' scores {total:.2f}")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITIES:
            problems.append(f"{key} {results[key]!r} is not one of {sorted(VISIBILITIES)}")
    return problems


def run(template_dir: Path, submission: Path, results: Path, *, timeout: float = 60) -> dict:
    """Grade ``submission`` against the template shipped in the autograder; write ``results``."""
    with tempfile.TemporaryDirectory(prefix="homework-gradescope-") as temporary:
        template = prepare_template(template_dir, Path(temporary) / "template")
        try:
            result = grade(submission, template=template, timeout=timeout)
            payload = results_json(result)
        except Exception as error:  # noqa: BLE001 - Gradescope must always get a results.json
            payload = {"score": 0.0, "output": f"The autograder could not grade this submission: {error}. "
                       "Please tell your instructor.", "tests": [], "visibility": "visible"}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.homework.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="grade one submission the way run_autograder does")
    run_parser.add_argument("--template", type=Path, required=True)
    run_parser.add_argument("--submission", type=Path, required=True)
    run_parser.add_argument("--results", type=Path, required=True)
    run_parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    payload = run(args.template, args.submission, args.results, timeout=args.timeout)
    print(payload.get("output", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
