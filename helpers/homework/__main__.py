"""``python -m helpers.homework {check,release,grade,grade-all,gradescope,sandbox,reference}``: see :mod:`helpers.homework`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .check import package_root
from .classroom import exercises_through, grade_all, reference_submission
from .grade import grade
from .gradescope import write_autograder
from .markers import MarkerError, scan
from .release import MANIFEST, exercise_manifest, release
from .sandbox import LAYERS, best_layer, layer_works


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=60, help="seconds of wall time per test (default 60)")
    parser.add_argument("--memory", type=int, default=2048, help="MiB of memory per test (default 2048)")
    parser.add_argument("--sandbox", choices=LAYERS, default=None,
                        help="the isolation to use (default: the strongest this machine offers)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.homework", description=__doc__)
    parser.add_argument("--root", type=Path, default=None,
                        help="the repository with the solutions (default: the checkout helpers comes from)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check the markers and list the exercises")
    release_parser = commands.add_parser("release", help="write the student copy")
    release_parser.add_argument("outdir", type=Path)
    grade_parser = commands.add_parser("grade", help="grade one submission (a folder or a .zip)")
    grade_parser.add_argument("student_dir", type=Path)
    grade_parser.add_argument("--json", type=Path, default=None, help="also write the grade here, as JSON")
    _sandbox_options(grade_parser)
    all_parser = commands.add_parser("grade-all", help="grade every submission in a folder (one folder or zip each)")
    all_parser.add_argument("submissions", type=Path)
    all_parser.add_argument("--out", type=Path, required=True, help="folder for grades.csv, the JSONs, the summary")
    all_parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    all_parser.add_argument("--regrade", action="store_true", help="grade every submission again")
    _sandbox_options(all_parser)
    scope_parser = commands.add_parser("gradescope", help="write a Gradescope autograder zip")
    scope_parser.add_argument("zip", type=Path)
    commands.add_parser("sandbox", help="say which sandbox layers work on this machine")
    reference_parser = commands.add_parser("reference", help="write a solved submission, to test the grader")
    reference_parser.add_argument("outdir", type=Path)
    reference_parser.add_argument("--exercises", default=None, help="comma-separated (default: all)")
    reference_parser.add_argument("--through", default=None, metavar="NOTEBOOK",
                                  help="the exercises of the notebooks up to this one (e.g. 03 or 03_why_linear)")
    args = parser.parse_args(argv)
    root = (args.root or package_root()).resolve()
    try:
        if args.command == "check":
            catalogue = scan(root)
            notebook = None
            for name, exercise in catalogue.exercises.items():
                home = catalogue.homes.get(name)
                if home and home.notebook != notebook:
                    notebook = home.notebook
                    print(f"{notebook}:")
                places = "; ".join(sorted({r.location for r in exercise.regions}))
                checked = f"  (checked in cell {home.cell + 1})" if home else ""
                points = f"{exercise.points:g} point{'' if exercise.points == 1 else 's'}"
                tests = f"{len(exercise.tests)} test{'' if len(exercise.tests) == 1 else 's'}"
                print(f"  {name:28s} {points:>10s}  {tests:>8s}  {places}{checked}")
            print(f"{len(catalogue.exercises)} exercises, "
                  f"{sum(e.points for e in catalogue.exercises.values()):g} points")
        elif args.command == "release":
            start = time.perf_counter()
            result = release(root, args.outdir)
            print(f"released {len(result.catalogue.exercises)} exercises "
                  f"({sum(e.points for e in result.catalogue.exercises.values()):g} points) in "
                  f"{len(result.stubbed_files)} files; {result.files} files copied to {result.outdir} in "
                  f"{time.perf_counter() - start:.1f} s")
        elif args.command == "grade":
            result = grade(args.student_dir, tests_from=root, timeout=args.timeout, memory=args.memory,
                           layer=args.sandbox)
            print(f"grading {result.student} with the tests of {root} (sandbox: {result.sandbox}, "
                  f"{result.seconds:.1f} s)")
            print(result.table())
            print(feedback(result, _places(root)))
            for error in result.errors:
                print(f"error: {error}", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
                print(f"written to {args.json}")
        elif args.command == "grade-all":
            summary = grade_all(args.submissions, args.out, tests_from=root, jobs=args.jobs, timeout=args.timeout,
                                memory=args.memory, layer=args.sandbox, regrade=args.regrade)
            print(summary.text())
        elif args.command == "gradescope":
            written = write_autograder(root, args.zip)
            print(f"Gradescope autograder written to {written}: upload it as the assignment's autograder "
                  "(Ubuntu base image); see the README's Homework section")
        elif args.command == "reference":
            if args.through and args.exercises:
                raise ValueError("give --exercises or --through, not both")
            names = (exercises_through(scan(root), args.through) if args.through else
                     args.exercises.split(",") if args.exercises else None)
            print(f"solved submission written to {reference_submission(root, args.outdir, names)}"
                  + (f" (exercises: {', '.join(names)})" if args.through else ""))
        else:
            best = best_layer()
            for layer in LAYERS:
                print(f"{layer:10s} {'works' if layer_works(layer) else 'not available'}"
                      f"{'  <- used' if layer == best else ''}")
    except (MarkerError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _places(root: Path) -> dict:
    """Per exercise, ``{"where": [...], "notebook": ...}``: from the solutions' markers, or a release's
    homework.json. Empty when neither is there."""
    catalogue = scan(root, require_tests=False)
    if catalogue.exercises:
        return exercise_manifest(catalogue)["exercises"]
    manifest = root / MANIFEST
    return json.loads(manifest.read_text(encoding="utf-8"))["exercises"] if manifest.is_file() else {}


def feedback(result, places: dict | None = None) -> str:
    """Per exercise not yet full marks: why, the failing visible tests with their messages; then the next
    thing to look at: the first such exercise in course order, where to write it and where it is checked.
    Hidden tests appear by name and outcome only."""
    lines = []
    for exercise in result.exercises:
        if exercise.score >= exercise.points and not exercise.errors:
            continue
        lines.append(f"\n{exercise.name}: {exercise.score:g} / {exercise.points:g}")
        for error in exercise.errors:
            lines.append(f"  cannot use your code: {error}")
        for test in exercise.tests:
            if test.outcome == "passed":
                continue
            name = test.nodeid.split("::")[-1]
            if test.hidden:
                lines.append(f"  hidden test {name}: {test.outcome}")
            else:
                message = test.message.strip().splitlines()[0][:300] if test.message.strip() else ""
                lines.append(f"  {name}: {test.outcome}{': ' + message if message else ''}")
        if exercise.flags:
            lines.append("  flagged for the instructor to read: " + "; ".join(exercise.flags[:3]))
    unfinished = [e for e in result.exercises if e.score < e.points or e.errors]
    if unfinished:
        first = unfinished[0]
        place = (places or {}).get(first.name, {})
        where = "; ".join(place.get("where", [])) or "its marker lines"
        notebook = place.get("notebook")
        checked = f"; it is announced in {notebook}, where check_exercise({first.name!r}) checks it" if notebook else ""
        lines.append(f"\nnext: exercise {first.name}, the first one in course order not yet at full marks: write "
                     f"it in {where}{checked}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
