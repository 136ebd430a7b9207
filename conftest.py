"""Test configuration for the whole repository (unit tests and nbval notebook runs).

Fast mode is switched on here, before any notebook kernel starts, so kernels inherit it. An explicit
``COURSE_FAST_MODE=0 pytest notebooks`` runs the notebooks in full mode instead.

``pytest`` runs in parallel (pytest-xdist, one worker per CPU core, a test file or notebook per worker at a
time). Each worker, and every notebook kernel it starts, computes with one torch thread: two workers with
two threads each on two cores would wait on each other's threads and run many times slower. The
notebooks' claims hold with one thread and with two (``python -m helpers.margins``).
"""

import os

os.environ.setdefault("COURSE_FAST_MODE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


# --------------------------------------------------------------------------------------------------
# Each notebook runs as a student who has worked up to it would run it
#
# In the instructor's repository, notebook k runs against a copy in which exactly the exercises of notebooks
# 00..k are solved (``helpers.homework.solved_through``): its kernel imports ``helpers`` from that copy
# (PYTHONPATH, set only while the kernel starts). So every notebook run also proves that no notebook needs
# an exercise of a later notebook, at no extra cost. A student's release has no solutions: nothing changes
# there. ``HOMEWORK_PROGRESSIVE=0`` runs the notebooks against this repository's own helpers instead.

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent
_COPIES: dict[str, Path] = {}
_HAS_HOMES: list[bool] = []  # scanned once per test process


def progressive_copy(notebook: Path) -> Path | None:
    """The copy (made once per test process) in which the exercises of the notebooks up to ``notebook`` are
    solved; None for a notebook outside ``notebooks/``, outside the instructor's repository, or when
    ``HOMEWORK_PROGRESSIVE=0``."""
    if os.environ.get("HOMEWORK_PROGRESSIVE", "1") == "0" or notebook.parent != ROOT / "notebooks":
        return None
    from helpers.homework import scan, solved_through

    if not _HAS_HOMES:
        _HAS_HOMES.append(bool(scan(ROOT, require_tests=False).homes))
    if not _HAS_HOMES[0]:
        return None
    if notebook.stem not in _COPIES:
        folder = Path(tempfile.mkdtemp(prefix="progressive-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _COPIES[notebook.stem] = solved_through(ROOT, folder / "course", notebook.stem)
    return _COPIES[notebook.stem]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    path = Path(str(item.fspath))
    copy = progressive_copy(path) if path.suffix == ".ipynb" else None
    if copy is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(copy), *([before] if before else [])])
    try:
        yield  # nbval starts the notebook's kernel here, with the first cell's setup
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
