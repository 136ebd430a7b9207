'''Homework mode: mark exercises in the solutions, release a student copy, grade a student's copy.

Commands (run from anywhere; the repository is the checkout this package was imported from)::

    python -m helpers.homework check                 # list exercises, points, tests; check every marker
    python -m helpers.homework release OUTDIR        # write the student copy to OUTDIR
    python -m helpers.homework grade STUDENT_DIR [--json FILE]   # score a submission (folder or .zip)
    python -m helpers.homework grade-all SUBMISSIONS --out GRADES [--jobs N]
    python -m helpers.homework gradescope AUTOGRADER.zip
    python -m helpers.homework sandbox                           # which isolation works here
    python -m helpers.homework reference OUTDIR [--exercises A,B | --through 03]  # a solved copy, for tests

and, from a notebook, ``check_exercise("NAME")`` or ``check_exercises("A", "B")`` (:mod:`helpers.homework.check`):
those exercises' visible tests, a line per test in plain words.

**Home notebooks.** Each exercise is announced and checked in its home notebook, the first notebook that
needs it: a markdown cell just before the first cell that calls the exercise's code says what to write,
and the code cell after it calls ``check_exercise("NAME")``. That call is how the catalogue knows the home:
:func:`scan` orders the exercises by home notebook and check cell (``check``, ``HOMEWORK.md`` and
``homework.json`` list them so). Once a repository checks one exercise in a notebook, every exercise must
be checked exactly in one notebook (an exercise that is a notebook cell, after that cell, in its notebook);
otherwise :class:`MarkerError`. :func:`solved_through` writes the copy of a student who solved the exercises
of notebooks 00..k, in which notebook k must run to its end; the notebook tests run each notebook so.

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
body, after its docstring. The release replaces the region, markers included, by three lines at the
markers' indentation, so the signature, the docstring and the code around the region stay::

        # YOUR CODE HERE (exercise NAME)
        raise NotImplementedError("exercise NAME: HINT")
        # END OF YOUR CODE (exercise NAME)

The student replaces the ``raise`` and keeps the two comment lines: the grader takes exactly the lines
between them. In a notebook code cell the region becomes the same three lines; the cell gets the metadata
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
an exercise without a grading test, a test naming an unknown exercise, a ``.py`` file or notebook that is
not UTF-8, a solution line that would appear elsewhere in the release (a leak). A *near miss* is an error
too, so that a typo never ships a solution: a comment (in a ``.py`` file or a notebook code cell) that
starts, after its ``#``, with a BEGIN-like word (BEGIN, START, a typo of BEGIN) and a SOLUTION- or
HIDDEN-TESTS-like word, or the two glued, without being exactly a marker: ``# BEGIN SOLUTIONS``,
``# begin solution``, ``# BEGIN_SOLUTION``, ``#BEGINSOLUTION``, ``# BEGIN SOLUTON``, ``### BEGIN SOLUTION``,
``# START HIDDEN TEST``, and the same for END (END, STOP). Write the marker exactly, or reword the
comment; prose such as ``# the solution of ...`` or ``# end of the loop`` is not a near miss.

**Release** (:func:`release`): copies the repository's files (git's tracked and untracked-but-not-ignored
files; never ``.git``), stubs every solution region, removes hidden tests, clears the outputs and
execution counts of every notebook, and writes ``homework.json`` (exercises, points, places) and
``HOMEWORK.md`` (the students' sheet). It then checks that no marker survived and that no line of a
solution appears anywhere in the copy (:func:`find_leaks`). That check reads every file whatever its
encoding or type: text as UTF-8, UTF-16/32 with a byte-order mark, or latin-1 (notebooks cell by cell
too); archives (zip and its kin such as wheels, tar, ``.tar.gz``/``.tgz``, gzip, bzip2, xz) member by
member, recursively (a file of at most 50 MB decompressed, 5 levels deep), reported as
``archive.zip!inner/path.py:LINE``; other binary data byte by byte. It compares whitespace-normalised
text (``x=a+b`` is ``x = a  +  b``; commented-out and doctest copies count, and so does a solution line
inside a longer line or spread over lines), and skips solution lines shorter than 21 characters. Compiled
Python (``.pyc``, ``.pyo``, ``__pycache__``), what it cannot read (7z, rar, zstd or lz4 archives,
encrypted or damaged members, archives too large or too deep, a file over 50 MB) are errors too: delete
them or keep them out of git (``.gitignore``). The copy
is written to a temporary folder next to OUTDIR and renamed to OUTDIR only when every check passed: a
failed release leaves nothing behind (an existing empty OUTDIR stays as it was), and its error names
the file and line of each leak (the first 20).

**Grade** (:func:`grade`, :mod:`helpers.homework.grade`): splices the code between each pair of marker
lines of the submission into the pristine release (:mod:`~helpers.homework.splice`; nothing else of the
submission is used), then runs the exercise tests twice in a sandbox (:mod:`~helpers.homework.sandbox`,
:mod:`~helpers.homework._runner`): the visible tests, whose messages are shown, and the hidden tests, of
which only the outcome word is kept. Each test runs in its own forked process with limits and a time
limit; the first test of each exercise also runs as a control that must fail. Returns a score per exercise,
the errors, the tamper flags and the sandbox used (``--json`` writes them all). ``grade-all``
(:mod:`~helpers.homework.classroom`) grades a class; ``gradescope`` (:mod:`~helpers.homework.gradescope`)
writes a Gradescope autograder.
'''

from .check import ExerciseCheck, check_exercise, check_exercises
from .classroom import solved_through
from .grade import Grade, grade
from .markers import Catalogue, Home, MarkerError, Region, scan
from .release import Release, find_leaks, is_student_release, release

__all__ = ["Catalogue", "ExerciseCheck", "Grade", "Home", "MarkerError", "Region", "Release", "check_exercise",
           "check_exercises", "find_leaks", "grade", "is_student_release", "release", "scan", "solved_through"]
