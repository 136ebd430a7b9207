"""The margin audit: run notebooks under several seeds and thread counts, and report how far every claim
cleared its bound.

    python -m helpers.margins notebooks/08_cyclegan.ipynb --seeds 0-4 --threads 1,2
    python -m helpers.margins notebooks/*.ipynb --full --seeds 0-2 --threads 2 --markdown margins.md

Each run executes copies of the notebooks (so the committed ones are untouched) in a private folder, in
the order given, with ``COURSE_SEED`` (:func:`helpers.config.seed`), ``OMP_NUM_THREADS`` and
``COURSE_FAST_MODE`` set, and collects what every :func:`helpers.claims.check` measured. Notebooks that
share a run share its ``build/`` folder (07 loads 05's checkpoint), and nothing else. The report gives,
per claim: the bound, the worst value over the runs, the worst relative margin (see
:mod:`helpers.claims`), and how many runs passed. The exit status is 1 when a claim failed in any run or a
worst relative margin is below ``--min-margin`` (default: 0.2 in fast mode, the course's rule; 0 in full
mode, where a claim must hold on every seed), and 2 when a notebook failed for another reason.

``__all__`` is the library side (:func:`audit`, :func:`summarise`, :func:`format_report` and their records);
the command line's internals (``main``, ``parse_list``, ``execute``) are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .claims import CLAIMS_FILE_VARIABLE, OPERATORS
from .validation import check_int, check_number

__all__ = ["Claim", "Run", "audit", "format_report", "summarise"]

FAST_RULE, FULL_RULE = 0.2, 0.0


@dataclass
class Run:
    """One execution of one notebook: its settings, what its checks recorded, and any error."""

    notebook: str
    seed: int
    threads: int
    seconds: float = 0.0
    claims: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        check_int(self.seed, "seed", minimum=0)
        check_int(self.threads, "threads")


@dataclass
class Claim:
    """One named claim of one notebook over all runs."""

    notebook: str
    name: str
    op: str
    records: list[dict] = field(default_factory=list)  # what check() recorded, plus "seed" and "threads"

    def __post_init__(self):
        if self.op not in OPERATORS:
            raise ValueError(f"op must be one of {OPERATORS}, got {self.op!r}")

    @property
    def worst(self) -> dict:
        """The record closest to failing (a NaN counts as the worst)."""
        return min(self.records, key=lambda r: -math.inf if math.isnan(r["relative_margin"]) else r["relative_margin"])

    @property
    def worst_margin(self) -> float:
        margin = self.worst["relative_margin"]
        return -math.inf if math.isnan(margin) else margin

    @property
    def passed(self) -> int:
        return sum(bool(r["passed"]) for r in self.records)


def parse_list(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"1,2"`` -> [1, 2]; ``"0-2,7"`` -> [0, 1, 2, 7]."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-", 1)
            values.extend(range(int(low), int(high) + 1))
        elif part:
            values.append(int(part))
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers >= 0 such as 0-4 or 1,2; got {text!r}")
    return values


def execute(notebook: Path, timeout: int) -> tuple[float, list[str]]:
    """Execute ``notebook`` (a copy) in place, in its folder and this process's environment, and save it
    with its outputs; returns the wall time and the errors that cells raised (one line each). Every cell
    runs, also after an error, so that later claims are still measured."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(notebook.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, notebook)
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"cell {index}: {output.get('ename')}: {output.get('evalue', '')[:300]}")
    return seconds, errors


def _run_config(notebooks: list[Path], seed: int, threads: int, full: bool, timeout: int, save: Path | None,
                log=print, checkpoints: Path | None = None) -> list[Run]:
    """All ``notebooks`` in order, in one private folder, under one seed and thread count; with ``save``,
    the executed notebooks are kept in ``save/seed-S-threads-T/``; with ``checkpoints``, the files of that
    folder are copied into the private ``build/checkpoints/`` first."""
    runs = []
    with tempfile.TemporaryDirectory(prefix=f"margins-s{seed}-t{threads}-") as folder:
        root = Path(folder)
        (root / "notebooks").mkdir()
        if checkpoints is not None:
            shutil.copytree(checkpoints, root / "build" / "checkpoints")
        images = notebooks[0].resolve().parent.parent / "images"
        if images.is_dir():
            (root / "images").symlink_to(images)
        for notebook in notebooks:
            copy = root / "notebooks" / notebook.name
            shutil.copyfile(notebook, copy)
            claims_file = root / f"{notebook.stem}.claims.jsonl"
            env = {**os.environ, "COURSE_SEED": str(seed), "OMP_NUM_THREADS": str(threads),
                   "MKL_NUM_THREADS": str(threads), "COURSE_FAST_MODE": "0" if full else "1",
                   CLAIMS_FILE_VARIABLE: str(claims_file), "PYTHONWARNINGS": "ignore"}
            command = [sys.executable, "-m", "helpers.margins", "--execute-one", str(copy), "--timeout", str(timeout)]
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            run = Run(notebook.name, seed, threads)
            if result.returncode != 0:
                run.errors.append(f"the notebook could not be executed: {result.stderr.strip()[-800:]}")
            else:
                answer = json.loads(result.stdout.strip().splitlines()[-1])
                run.seconds, run.errors = answer["seconds"], answer["errors"]
            if claims_file.is_file():
                run.claims = [json.loads(line) for line in claims_file.read_text().splitlines() if line.strip()]
            if save is not None and copy.is_file():
                kept = save / f"seed-{seed}-threads-{threads}"
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(copy, kept / notebook.name)
            failed = [c["name"] for c in run.claims if not c["passed"]]
            log(f"{notebook.name} seed {seed} threads {threads}: {run.seconds:.0f} s, {len(run.claims)} checks"
                + (f", FAILED: {failed}" if failed else "") + (f", errors: {run.errors}" if run.errors else ""))
            runs.append(run)
    return runs


def audit(notebooks: list[Path], seeds: list[int], threads: list[int], *, full: bool = False, jobs: int = 1,
          timeout: int = 3600, save: Path | None = None, checkpoints: Path | None = None, log=print) -> list[Run]:
    """Execute every notebook under every (seed, thread count), on at most ``jobs`` CPU cores at a time: a run
    with t threads takes t of them (torch's threads wait for each other, so two runs sharing a core would
    both crawl). The results do not depend on the scheduling, only the wall times do. ``notebooks``: existing
    files (``FileNotFoundError`` otherwise); ``seeds``, ``threads``: non-empty lists of ints >= 0 and >= 1.
    ``checkpoints``: a folder of training checkpoints that every run starts with (for example those that
    notebook 05 left in ``build/checkpoints/``, so that 07 can be audited without retraining 05's DCGAN)."""
    if not notebooks:
        raise ValueError("notebooks is empty; name at least one, e.g. [Path('notebooks/08_cyclegan.ipynb')]")
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"notebooks: no such file(s) {missing}")
    for values, name, minimum in ((seeds, "seeds", 0), (threads, "threads", 1)):
        if not values:
            raise ValueError(f"{name} is empty; give at least one, e.g. [{minimum}]")
        for value in values:
            check_int(value, f"every value of {name}", minimum=minimum)
    check_int(jobs, "jobs")
    check_int(timeout, "timeout")
    if checkpoints is not None and not Path(checkpoints).is_dir():
        raise FileNotFoundError(f"checkpoints: no such folder {str(checkpoints)!r}")
    notebooks = [Path(p) for p in notebooks]
    configs = sorted(((s, t) for s in seeds for t in threads), key=lambda c: c[1])  # pack the 1-thread runs
    free = threading.Condition()
    cores = [max(1, jobs)]

    def run(seed: int, thread_count: int) -> list[Run]:
        need = min(thread_count, max(1, jobs))
        with free:
            free.wait_for(lambda: cores[0] >= need)
            cores[0] -= need
        try:
            return _run_config(notebooks, seed, thread_count, full, timeout, save, log, checkpoints)
        finally:
            with free:
                cores[0] += need
                free.notify_all()

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, s, t) for s, t in configs]
        return [r for future in futures for r in future.result()]


def summarise(runs: list[Run]) -> list[Claim]:
    """Group the records of all runs by (notebook, claim name), in the order they first appeared. A claim
    checked several times in one run contributes every value. ``runs``: a list of :class:`Run`."""
    if any(not isinstance(run, Run) for run in runs):
        raise TypeError(f"runs must be a list of Run (what audit returns), got {[type(r).__name__ for r in runs]}")
    claims: dict[tuple[str, str], Claim] = {}
    for run in runs:
        for record in run.claims:
            key = (run.notebook, record["name"])
            if key not in claims:
                claims[key] = Claim(run.notebook, record["name"], record["op"])
            claims[key].records.append({**record, "seed": run.seed, "threads": run.threads})
    return list(claims.values())


def format_report(claims: list[Claim], runs: list[Run], min_margin: float, *, markdown: bool = False) -> str:
    """A table, one row per claim: bound, reference, worst value (and the run it came from), worst relative
    margin, runs passed; then the notebook errors and the runs' wall times. ``claims`` (each with a record at
    least) from :func:`summarise`, ``runs`` from :func:`audit`, ``min_margin`` a finite number."""
    check_number(min_margin, "min_margin")
    if any(not isinstance(c, Claim) or not c.records for c in claims):
        raise ValueError("claims must be what summarise() returns: Claim objects with at least one record each")
    if any(not isinstance(run, Run) for run in runs):
        raise TypeError("runs must be a list of Run (what audit returns)")
    header = ["nb", "claim", "bound", "reference", "worst value (seed, threads)", "worst margin", "passed"]
    rows = []
    for c in claims:
        worst = c.worst
        margin = c.worst_margin
        verdict = "" if margin >= min_margin else (" FAILS" if c.passed < len(c.records) else " THIN")
        rows.append([c.notebook.split("_")[0], c.name, f"{c.op} {worst['bound']:.4g}", f"{worst['reference']:.4g}",
                     f"{worst['value']:.4g} ({worst['seed']}, {worst['threads']})", f"{margin:.2f}{verdict}",
                     f"{c.passed}/{len(c.records)}"])
    lines = []
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    else:
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    errors = [f"{r.notebook} (seed {r.seed}, threads {r.threads}): {e}" for r in runs for e in r.errors
              if "claim not met" not in e]
    if errors:
        lines += ["", "errors other than failed claims:"] + [f"- {e}" for e in errors]
    by_notebook: dict[str, list[float]] = {}
    for r in runs:
        by_notebook.setdefault(r.notebook, []).append(r.seconds)
    lines += ["", "wall time per run (s, min-max; parallel runs share the CPU): " + ", ".join(
        f"{name.split('_')[0]} {min(s):.0f}-{max(s):.0f}" for name, s in by_notebook.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.margins", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run, in this order")
    parser.add_argument("--seeds", type=parse_list, default=[0, 1, 2, 3, 4], help="COURSE_SEED values (default 0-4)")
    parser.add_argument("--threads", type=parse_list, default=[1, 2], help="torch thread counts (default 1,2)")
    parser.add_argument("--full", action="store_true", help="full mode (default: fast mode, as under pytest)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="CPU cores to use; a run with t threads takes t of them (default 1)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    parser.add_argument("--min-margin", type=float, default=None,
                        help=f"the rule: worst relative margin at least this (default {FAST_RULE} fast, {FULL_RULE} full)")
    parser.add_argument("--json", type=Path, help="also write every run's records here")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--save", type=Path, help="keep the executed notebooks in SAVE/seed-S-threads-T/")
    parser.add_argument("--checkpoints", type=Path,
                        help="a folder of training checkpoints each run starts with (copied to build/checkpoints/)")
    parser.add_argument("--execute-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.execute_one is not None:  # the worker: one notebook, in this process's environment
        seconds, errors = execute(args.execute_one, args.timeout)
        print(json.dumps({"seconds": seconds, "errors": errors}))
        return 0
    if not args.notebooks:
        parser.error("name at least one notebook, e.g. notebooks/08_cyclegan.ipynb")
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    min_margin = args.min_margin if args.min_margin is not None else (FULL_RULE if args.full else FAST_RULE)
    mode = "full" if args.full else "fast"
    print(f"{mode} mode; seeds {args.seeds}; threads {args.threads}; {len(args.notebooks)} notebooks; "
          f"{len(args.seeds) * len(args.threads)} runs of each, {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    runs = audit(args.notebooks, args.seeds, args.threads, full=args.full, jobs=args.jobs, timeout=args.timeout,
                 save=args.save, checkpoints=args.checkpoints, log=lambda line: print(line, flush=True))
    claims = summarise(runs)
    print()
    print(format_report(claims, runs, min_margin))
    print(f"\n{len(claims)} claims; rule: worst relative margin >= {min_margin}; "
          f"{time.perf_counter() - start:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps([run.__dict__ for run in runs], indent=1))
    if args.markdown:
        args.markdown.write_text(format_report(claims, runs, min_margin, markdown=True) + "\n")
    if any(r.errors and not all("claim not met" in e for e in r.errors) for r in runs):
        return 2
    return 1 if any(c.worst_margin < min_margin for c in claims) else 0


if __name__ == "__main__":
    sys.exit(main())
