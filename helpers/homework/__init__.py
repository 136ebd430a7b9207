'''Homework mode: mark exercises in the solutions, release a student copy, grade a student's copy.

Commands (run from anywhere; the repository is the checkout this package was imported from)::

    python -m helpers.homework check                 # list exercises, points, tests; check every marker
    python -m helpers.homework release OUTDIR        # write the student copy to OUTDIR
    python -m helpers.homework grade STUDENT_DIR [--json FILE]   # score a student's copy

**Solution regions.** Two comment lines around code, each on a line of its own, indented like the code::

    def clip_to_unit(x):
        """The docstring stays in the release."""
        # BEGIN SOLUTION exercise=clip points=2 hint="every value into [0, 1]"
        return x.clamp(0.0, 1.0)
        # END SOLUTION

Options of ``BEGIN SOLUTION`` (shell-like ``key=value``; quote values with spaces):

- ``exercise=NAME`` (required): lowercase letters, digits, ``-``, ``_``, ``.``. An exercise may have several
  regions (in several functions, files or notebook cells); they are graded together.
- ``points=N`` (default 1): give it on one region of the exercise (repeating the same value is allowed).
- ``hint="..."``: the message of the stub.

In ``helpers/*.py`` (any ``.py`` file) a region must hold whole statements of one block inside a function
body, after its docstring. The release replaces the region, markers included, by
``raise NotImplementedError("exercise NAME: HINT")`` at the markers' indentation, so the signature, the
docstring and the code around the region stay. In a notebook code cell the region becomes
``# YOUR CODE HERE (exercise NAME)`` and the same ``raise``; the cell gets the metadata
``{"homework": {"exercises": [NAME]}}`` so that a grading test finds it. Markers are comments: adding them
to an executed notebook leaves its outputs valid.

**Hidden tests.** ``# BEGIN HIDDEN TESTS`` / ``# END HIDDEN TESTS`` around whole tests (decorators
included) in a test file: removed from the release, run when the instructor grades.

**Grading tests.** Any test under ``tests/`` marked ``@pytest.mark.exercise("NAME")`` (the marker is
registered in ``pyproject.toml``; the name must be a string literal) grades exercise NAME. A test should
fail on the stub and pass on a correct solution, and should depend on as few other exercises as it can.
An exercise earns ``points * passed / tests`` (a proportional share; failed, erroring, skipped and
unfinished tests earn nothing). Notebook exercises are graded by running the exercise cell with test
doubles for the names it uses (see ``tests/test_exercises.py``).

**Errors** (:class:`MarkerError`, message starting with ``file:line`` or ``notebook, cell N, line M``):
unbalanced, nested or mismatched markers, an empty region, a region that crosses statements or lies
outside a function body (``.py``), a docstring inside a region, points that disagree, an unknown option,
an exercise without a grading test, a test naming an unknown exercise, a solution line that would appear
elsewhere in the release (a leak).

**Release** (:func:`release`): copies the repository's files (git's tracked and untracked-but-not-ignored
files; never ``.git``), stubs every solution region, removes hidden tests, clears the outputs and
execution counts of every notebook, and writes ``homework.json`` (exercises, points, places) and
``HOMEWORK.md`` (the students' sheet). It then checks that no marker and no solution line survived.

**Grade** (:func:`grade`): copies the student's folder to a temporary folder, puts the instructor's
``tests/``, ``conftest.py`` and ``pyproject.toml`` in it (hidden tests included), runs the exercise tests
there with pytest in a subprocess (``helpers`` imported from the copy; a time limit), and returns a score
per exercise and a total (printed as a table; ``--json`` writes them with every test's outcome).
'''

from .grade import Grade, grade
from .markers import Catalogue, MarkerError, Region, scan
from .release import Release, find_leaks, is_student_release, release

__all__ = ["Catalogue", "Grade", "MarkerError", "Region", "Release", "find_leaks", "grade", "is_student_release",
           "release", "scan"]
