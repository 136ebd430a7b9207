"""``python -m helpers.homework {check,release,grade}``: see :mod:`helpers.homework`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .grade import grade
from .markers import MarkerError, scan
from .release import release


def package_root() -> Path:
    """The checkout this package was imported from (the instructor's repository, or a student's copy)."""
    return Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.homework", description=__doc__)
    parser.add_argument("--root", type=Path, default=None,
                        help="the repository with the solutions (default: the checkout helpers comes from)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check the markers and list the exercises")
    release_parser = commands.add_parser("release", help="write the student copy")
    release_parser.add_argument("outdir", type=Path)
    grade_parser = commands.add_parser("grade", help="grade a student's copy")
    grade_parser.add_argument("student_dir", type=Path)
    grade_parser.add_argument("--json", type=Path, default=None, help="also write the grade here, as JSON")
    grade_parser.add_argument("--timeout", type=float, default=900, help="seconds for all tests together")
    args = parser.parse_args(argv)
    root = (args.root or package_root()).resolve()
    try:
        if args.command == "check":
            catalogue = scan(root)
            for name, exercise in catalogue.exercises.items():
                places = "; ".join(sorted({r.location for r in exercise.regions}))
                print(f"{name:28s} {exercise.points:>4g} points  {len(exercise.tests):>2} tests  {places}")
            print(f"{len(catalogue.exercises)} exercises, "
                  f"{sum(e.points for e in catalogue.exercises.values()):g} points")
        elif args.command == "release":
            start = time.perf_counter()
            result = release(root, args.outdir)
            print(f"released {len(result.catalogue.exercises)} exercises "
                  f"({sum(e.points for e in result.catalogue.exercises.values()):g} points) in "
                  f"{len(result.stubbed_files)} files; {result.files} files copied to {result.outdir} in "
                  f"{time.perf_counter() - start:.1f} s")
        else:
            result = grade(args.student_dir, tests_from=root, timeout=args.timeout)
            print(f"grading {result.student} with the tests of {root}")
            print(result.table())
            for error in result.errors:
                print(f"error: {error}", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
                print(f"written to {args.json}")
    except (MarkerError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
