"""Seconds per submission for grading a class: ``python benchmarks/grading.py [--students 20] [--jobs 1 2]``.

Writes ``--students`` synthetic submissions of this course (each solves a random share of the exercises,
seeded; a few are zipped), grades them all with ``grade-all`` once per ``--jobs`` value, checks that the
grade books agree, and prints the seconds per submission and the sandbox used.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.homework.classroom import grade_all, reference_submission  # noqa: E402
from helpers.homework.markers import scan  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = list(scan(ROOT).exercises)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as folder:
        submissions = Path(folder) / "submissions"
        submissions.mkdir()
        for index in range(args.students):
            solved = rng.sample(names, rng.randint(0, len(names)))
            target = reference_submission(ROOT, submissions / f"student{index:02d}", solved)
            if index % 5 == 4:
                shutil.make_archive(str(target), "zip", target)
                shutil.rmtree(target)
        books = []
        for jobs in args.jobs:
            out = Path(folder) / f"grades-{jobs}"
            start = time.perf_counter()
            summary = grade_all(submissions, out, tests_from=ROOT, jobs=jobs, progress=lambda line: None)
            seconds = time.perf_counter() - start
            books.append((out / "grades.csv").read_text())
            sandbox = ", ".join(sorted({line for line in (out / "summary.md").read_text().splitlines()
                                        if line.startswith("Sandbox:")}))
            print(f"jobs {jobs}: {args.students} submissions in {seconds:.1f} s, "
                  f"{seconds / args.students:.1f} s per submission (wall); mean grade {summary.mean:.2f} / "
                  f"{summary.maximum_points:g}; {sandbox}")
        print("grade books identical across --jobs:", all(book == books[0] for book in books))


if __name__ == "__main__":
    main()
