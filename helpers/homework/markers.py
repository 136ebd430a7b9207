"""Finding and checking the homework markers: solution regions, hidden tests, and the tests of each exercise.

The marker format is documented in :mod:`helpers.homework`. Every problem is a :class:`MarkerError` whose
message starts with the place (``helpers/attacks.py:120`` or ``notebooks/03_why_linear.ipynb, cell 5, line 3``).
"""

from __future__ import annotations

import ast
import io
import json
import re
import shlex
import subprocess
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"^#\s*(?P<edge>BEGIN|END)\s+(?P<kind>SOLUTION|HIDDEN TESTS)(?![\w-])(?P<rest>.*)$")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
OPTIONS = {"SOLUTION": ("exercise", "points", "hint"), "HIDDEN TESTS": ()}
DEFAULT_POINTS = 1.0
TESTS_DIR = "tests"

# What a release leaves out however the repository lists it: history, environments, caches, build outputs.
IGNORED_PARTS = {".git", ".venv", "venv", "build", "__pycache__", ".ipynb_checkpoints", ".pytest_cache",
                 ".hypothesis", ".mypy_cache", ".ruff_cache"}


# Near misses are comments that look like a marker but are not one; they are errors (else the solution
# would ship): see near_miss(). After the '#'s a near miss may have spaces and these decorations.
_DECORATION = "# \t-=*~>:[(."
_SUSPECT = re.compile(r"#[-# \t=*~>:\[(.]*[BEbeSsFf]")  # a cheap filter: '#', decorations, a likely letter
_WORD = re.compile(r"[A-Za-z]+")
_BEGIN_WORDS = {"BEGIN", "BEGINS", "BEGINNING", "START", "STARTS", "STARTING"}
_END_WORDS = {"END", "ENDS", "EDN", "ENDING", "STOP", "STOPS", "FINISH"}
_MARKERS_ARE = ("a marker is exactly '# BEGIN SOLUTION exercise=NAME ...' / '# END SOLUTION' or '# BEGIN HIDDEN "
                "TESTS' / '# END HIDDEN TESTS': one '#', capital letters, words spelt and spaced so")


class MarkerError(ValueError):
    """A marker, an exercise or a grading test is wrong; the message names the file and line."""


@dataclass
class Region:
    """One marked region: a solution (stubbed in the release) or hidden tests (removed from the release).

    ``begin`` and ``end`` are the 1-based lines of the two markers, counted in the file or, for a notebook,
    in the cell's source. ``body`` holds the lines between them (the solution, or the hidden tests).
    """

    kind: str  # "SOLUTION" or "HIDDEN TESTS"
    path: str  # relative to the repository root, with "/"
    begin: int
    end: int
    indent: str
    body: list[str]
    exercise: str | None = None
    points: float | None = None
    hint: str | None = None
    cell: int | None = None  # notebook cell index (from 0; messages count from 1)
    function: str | None = None  # the enclosing function, for .py solutions

    @property
    def where(self) -> str:
        return _where(self.path, self.begin, self.cell)

    @property
    def location(self) -> str:
        """Where a student finds the exercise in the release (line numbers change there)."""
        if self.cell is not None:
            return f"{self.path}, cell {self.cell + 1}"
        return f"{self.path}, {self.function}()"


@dataclass
class ExerciseTest:
    exercise: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Exercise:
    name: str
    points: float
    regions: list[Region] = field(default_factory=list)
    tests: list[ExerciseTest] = field(default_factory=list)


@dataclass
class Home:
    """Where an exercise is announced and checked: the code cell of ``notebook`` (cell ``cell``, from 0) that
    calls ``check_exercise("NAME")``. The first notebook that needs the exercise."""

    notebook: str  # relative to the repository root, with "/"
    cell: int

    @property
    def where(self) -> str:
        return f"{self.notebook}, cell {self.cell + 1}"


@dataclass
class Catalogue:
    """Everything marked in a repository. ``exercises`` is in course order: by home notebook and check cell
    (see :func:`scan`), then the exercises without a home (a repository that checks none in its notebooks)."""

    root: Path
    regions: list[Region]
    exercises: dict[str, Exercise]
    tests: list[ExerciseTest]
    homes: dict[str, Home] = field(default_factory=dict)

    def regions_in(self, path: str) -> list[Region]:
        return [r for r in self.regions if r.path == path]


def _where(path: str, line: int, cell: int | None = None) -> str:
    """``path:line``, or for a notebook ``path, cell C, line L`` (cells counted from 1, markdown included)."""
    return f"{path}, cell {cell + 1}, line {line}" if cell is not None else f"{path}:{line}"


# --------------------------------------------------------------------------------------------------
# Files of a repository


def repository_files(root: Path) -> list[str]:
    """The files a release copies, relative to ``root``: git's tracked and untracked-but-not-ignored files
    (so .gitignore is respected) or, outside git, every file; never .git, virtual environments or caches."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
        git_root = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True,
                                  text=True, check=True).stdout.strip()
        if Path(git_root).resolve() != root.resolve():
            raise subprocess.CalledProcessError(1, "git")  # a folder inside some other repository
    except (OSError, subprocess.CalledProcessError):
        listed = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    files = []
    for name in listed:
        parts = name.split("/")
        if not name or IGNORED_PARTS & set(parts) or any(p.endswith(".egg-info") for p in parts):
            continue
        if (root / name).is_file() and not (root / name).is_symlink():
            files.append(name)
    return sorted(set(files))


# --------------------------------------------------------------------------------------------------
# Markers


@dataclass
class _Marker:
    line: int
    column: int
    edge: str
    kind: str
    options: dict


def _parse_options(kind: str, rest: str, where: str) -> dict:
    try:
        words = shlex.split(rest)
    except ValueError as error:
        raise MarkerError(f"{where}: cannot read the marker's options {rest.strip()!r} ({error})") from None
    options = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or key not in OPTIONS[kind]:
            allowed = ", ".join(f"{k}=..." for k in OPTIONS[kind]) or "no options"
            raise MarkerError(f"{where}: unknown option {word!r} on a {kind} marker (allowed: {allowed})")
        options[key] = value
    if "exercise" in options and not NAME.match(options["exercise"]):
        raise MarkerError(f"{where}: exercise name {options['exercise']!r} must be lowercase letters, digits, "
                          "'-', '_' or '.'")
    if "points" in options:
        try:
            options["points"] = float(options["points"])
        except ValueError:
            raise MarkerError(f"{where}: points={options['points']!r} is not a number") from None
        if not options["points"] > 0:
            raise MarkerError(f"{where}: points must be positive, got {options['points']}")
    return options


def _comments(text: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of each comment; tokenized, so a marker quoted inside a string is not one.
    Falls back to whole-line comments if the text does not tokenize (IPython syntax in a cell)."""
    try:
        return [(t.start[0], t.start[1], t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(i, len(line) - len(line.lstrip()), line.strip())
                for i, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith("#")]


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    previous2, previous = [], list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _edge_like(word: str) -> str | None:
    """``BEGIN`` or ``END`` if ``word`` (capitals) is one of them, a synonym or a typo of one."""
    if word in _BEGIN_WORDS or (word[:1] == "B" and _distance(word, "BEGIN") <= 1):
        return "BEGIN"
    if word in _END_WORDS:
        return "END"
    return None


def _hidden_like(word: str) -> bool:
    return word[:1] == "H" and _distance(word, "HIDDEN") <= 1


def _tests_like(word: str) -> bool:
    return word[:1] == "T" and (word in ("TEST", "TESTS") or _distance(word, "TESTS") <= 1)


def _kind_like(words: list[str]) -> str | None:
    """``SOLUTION`` or ``HIDDEN TESTS`` if ``words`` (capitals) start with one of them, misspelt or glued."""
    if not words:
        return None
    word = words[0]
    if word.startswith("SOLUTION") or word == "SOLN":
        return "SOLUTION"
    if word[:1] == "S" and _distance(word, "SOLUTION") <= 2 or _distance(word, "SOLUTION") <= 1:
        return "SOLUTION"
    if _hidden_like(word) and len(words) > 1 and _tests_like(words[1]):
        return "HIDDEN TESTS"
    if word[:1] == "H" and any(_hidden_like(word[:i]) and _tests_like(word[i:]) for i in range(5, len(word) - 2)):
        return "HIDDEN TESTS"
    return None


def near_miss(comment: str) -> tuple[str, str] | None:
    """(edge, kind) of the marker that ``comment`` resembles without being one (see :data:`MARKER`), or None.

    A near miss starts, after its ``#`` and punctuation, with a BEGIN- or END-like word followed by a
    SOLUTION- or HIDDEN-TESTS-like word, or with the two glued together: wrong case, plurals, ``_`` or ``-``
    between the words, small misspellings, ``##``, START/STOP. Prose ("# the solution", "# end of the loop")
    is not one."""
    if MARKER.match(comment):
        return None
    body = comment.lstrip(_DECORATION)
    if not body or body[0] not in "BEbeSsFf":
        return None
    words = [w.upper() for w in _WORD.findall(body, 0, 80)[:4]]
    edge = _edge_like(words[0])
    if edge:
        kind = _kind_like(words[1:])
        return (edge, kind) if kind else None
    first = words[0]
    if len(first) < 7:
        return None
    for i in (3, 4, 5, 6, 9):  # END, STOP, BEGIN, BEGINS, BEGINNING glued to the next word
        edge = _edge_like(first[:i]) if i < len(first) - 2 else None
        kind = _kind_like([first[i:], *words[1:]]) if edge else None
        if kind:
            return edge, kind
    return None


def _suspect(text: str) -> bool:
    """Whether ``text`` may hold a near miss (a fast test: most files hold no ``#`` followed by B, E or S)."""
    for match in _SUSPECT.finditer(text):
        end = text.find("\n", match.start())
        if near_miss(text[match.start():end if end >= 0 else len(text)]):
            return True
    return False


def _near_miss_error(comment: str, where: str) -> MarkerError | None:
    guess = near_miss(comment)
    if guess is None:
        return None
    edge, kind = guess
    meant = f"# {edge} {kind}" + (" exercise=NAME" if (edge, kind) == ("BEGIN", "SOLUTION") else "")
    return MarkerError(f"{where}: {comment.strip()!r} looks like a marker but is not one; if it is meant as "
                       f"'{meant}', write exactly that ({_MARKERS_ARE}), otherwise reword the comment")


def _markers(text: str, path: str, cell: int | None) -> list[_Marker]:
    lines = text.splitlines()
    found = []
    for line, column, comment in _comments(text):
        match = MARKER.match(comment)
        where = _where(path, line, cell)
        if not match:
            error = _near_miss_error(comment, where)
            if error is not None:
                raise error
            continue
        if lines[line - 1][:column].strip():
            raise MarkerError(f"{where}: a marker must be a comment on a line of its own")
        edge, kind, rest = match["edge"], match["kind"], match["rest"]
        if edge == "END" and rest.strip():
            raise MarkerError(f"{where}: END {kind} takes no options, got {rest.strip()!r}")
        options = _parse_options(kind, rest, where) if edge == "BEGIN" else {}
        if edge == "BEGIN" and kind == "SOLUTION" and "exercise" not in options:
            raise MarkerError(f"{where}: BEGIN SOLUTION needs exercise=NAME")
        found.append(_Marker(line, column, edge, kind, options))
    return found


def _pair(markers: list[_Marker], text: str, path: str, cell: int | None) -> list[Region]:
    """Balanced, not nested, BEGIN and END at the same indentation, something in between."""
    lines = text.splitlines()
    regions, open_marker = [], None
    for marker in markers:
        where = _where(path, marker.line, cell)
        if marker.edge == "BEGIN":
            if open_marker is not None:
                raise MarkerError(f"{where}: BEGIN {marker.kind} inside the BEGIN {open_marker.kind} of line "
                                  f"{open_marker.line}: regions cannot be nested (close that one first)")
            open_marker = marker
            continue
        if open_marker is None:
            raise MarkerError(f"{where}: END {marker.kind} without a BEGIN {marker.kind} before it")
        if open_marker.kind != marker.kind:
            raise MarkerError(f"{where}: END {marker.kind} closes the BEGIN {open_marker.kind} of line "
                              f"{open_marker.line}")
        if marker.column != open_marker.column:
            raise MarkerError(f"{where}: END {marker.kind} is indented by {marker.column} but its BEGIN (line "
                              f"{open_marker.line}) by {open_marker.column}: indent both like the code they mark")
        body = lines[open_marker.line:marker.line - 1]
        if not any(line.strip() and not line.strip().startswith("#") for line in body):
            raise MarkerError(f"{_where(path, open_marker.line, cell)}: the {marker.kind} region is empty")
        options = open_marker.options
        regions.append(Region(kind=marker.kind, path=path, begin=open_marker.line, end=marker.line,
                              indent=lines[open_marker.line - 1][:open_marker.column], body=body,
                              exercise=options.get("exercise"), points=options.get("points"),
                              hint=options.get("hint"), cell=cell))
        open_marker = None
    if open_marker is not None:
        raise MarkerError(f"{_where(path, open_marker.line, cell)}: BEGIN {open_marker.kind} has no END "
                          f"{open_marker.kind}")
    return regions


# --------------------------------------------------------------------------------------------------
# Python files: solution regions must be whole statements inside a function body


def _check_python_region(region: Region, tree: ast.Module, parents: dict, statements: list[ast.stmt]) -> None:
    where = region.where
    b, e = region.begin, region.end
    inside = [s for s in statements if b < _start(s) and s.end_lineno < e]
    top = [s for s in inside if parents[s] not in inside]
    if not top:
        raise MarkerError(f"{where}: the {region.kind} region holds no complete statement")
    owners = {(id(parents[s]), _field_of(parents[s], s)) for s in top}
    if len(owners) != 1:
        raise MarkerError(f"{where}: the {region.kind} region spans more than one block; mark statements of "
                          "one block (e.g. the whole body after the docstring)")
    parent = parents[top[0]]
    ancestors, node = set(), parent
    while node is not None:
        ancestors.add(node)
        node = parents.get(node)
    for s in statements:
        if s not in inside and s not in ancestors and _start(s) <= e and s.end_lineno >= b:
            raise MarkerError(f"{where}: the statement on line {_start(s)} crosses the markers of the region "
                              f"(lines {b}-{e}); a region must hold whole statements")
    column = top[0].col_offset
    if len(region.indent) != column:
        within = f" (inside the statement of line {_start(parent)}: mark whole statements, decorators included)" \
            if isinstance(parent, ast.stmt) and _start(parent) < b and len(region.indent) < column else ""
        raise MarkerError(f"{where}: the markers are indented by {len(region.indent)} but the code they mark "
                          f"by {column}{within}")
    if region.kind == "HIDDEN TESTS":
        return
    node = parent
    while not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
        node = parents[node]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise MarkerError(f"{where}: BEGIN SOLUTION outside a function body: in a .py file a solution region "
                          "must lie inside a function (the release keeps its signature and docstring and "
                          "raises NotImplementedError there)")
    if top[0] is node.body[0] and ast.get_docstring(node, clean=False) is not None:
        raise MarkerError(f"{where}: the region includes the docstring of {node.name}(); start it after the "
                          "docstring, which the student needs")
    names, walker = [], node
    while not isinstance(walker, ast.Module):
        if isinstance(walker, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(walker.name)
        walker = parents[walker]
    region.function = ".".join(reversed(names))


def _start(statement: ast.stmt) -> int:
    """The first line of a statement, its decorators included."""
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])


def _field_of(parent: ast.AST, child: ast.AST) -> str:
    for name, value in ast.iter_fields(parent):
        if isinstance(value, list) and any(item is child for item in value):
            return name
    return ""


def scan_python(text: str, path: str) -> list[Region]:
    """The regions of one .py file, checked; raises :class:`MarkerError`."""
    if "SOLUTION" not in text and "HIDDEN TESTS" not in text and not _suspect(text):
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise MarkerError(f"{_where(path, error.lineno or 0)}: not valid Python ({error.msg})") from None
    regions = _pair(_markers(text, path, None), text, path, None)
    if not regions:
        return []
    parents: dict = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    for region in regions:
        _check_python_region(region, tree, parents, statements)
    return regions


# --------------------------------------------------------------------------------------------------
# Notebooks: solution regions in code cells


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def scan_notebook(notebook: dict, path: str) -> list[Region]:
    regions = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        if "SOLUTION" not in source and "HIDDEN TESTS" not in source and not _suspect(source):
            continue
        for region in _pair(_markers(source, path, index), source, path, index):
            if region.kind == "HIDDEN TESTS":
                raise MarkerError(f"{region.where}: HIDDEN TESTS belong in the test files (tests/*.py), not in "
                                  "a notebook")
            regions.append(region)
    return regions


# --------------------------------------------------------------------------------------------------
# Check cells: check_exercise("NAME") / check_exercises("A", "B") in a notebook code cell

CHECK_FUNCTIONS = ("check_exercise", "check_exercises")


def scan_checks(notebook: dict, path: str) -> list[tuple[str, int]]:
    """(exercise, cell index) of every exercise a code cell of ``notebook`` checks, in cell order."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        source = cell_source(cell)
        if cell.get("cell_type") != "code" or not any(f in source for f in CHECK_FUNCTIONS):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            raise MarkerError(f"{_where(path, error.lineno or 0, index)}: a cell that checks an exercise must be "
                              f"plain Python ({error.msg})") from None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function not in CHECK_FUNCTIONS:
                continue
            names = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            if not names or len(names) != len(node.args):
                raise MarkerError(f"{_where(path, node.lineno, index)}: name the exercises with string literals, "
                                  f"e.g. {function}(\"fgsm-step\")")
            found.extend((name, index) for name in names)
    return found


def _homes(checks: list[tuple[str, str, int]], exercises: dict[str, Exercise], require: bool) -> dict[str, Home]:
    """The home of each exercise from the check cells ``(exercise, notebook, cell)``, in file order; checked."""
    homes: dict[str, Home] = {}
    for name, notebook, cell in checks:
        where = _where(notebook, 1, cell)
        if name not in exercises:
            if require:
                known = ", ".join(exercises) or "none"
                raise MarkerError(f"{where}: checks exercise {name!r}, which no BEGIN SOLUTION marker defines "
                                  f"(exercises: {known})")
            continue
        first = homes.setdefault(name, Home(notebook, cell))
        if first.notebook != notebook:
            raise MarkerError(f"{where}: exercise {name!r} is checked here and in {first.where}; check it once, in "
                              "its home notebook (the first notebook that needs it)")
    if not require or not checks:
        return homes  # a repository that checks no exercise in its notebooks has no homes
    for name, exercise in exercises.items():
        if name not in homes:
            raise MarkerError(f"{exercise.regions[0].where}: exercise {name!r} is not checked in any notebook; "
                              "announce it (a markdown cell: name, points, file and function, what to write) "
                              "just before the first cell that needs it, then add a code cell "
                              f"check_exercise({name!r})")
        for region in exercise.regions:
            if region.cell is None:
                continue
            home = homes[name]
            if home.notebook != region.path or home.cell < region.cell:
                raise MarkerError(f"{home.where}: exercise {name!r} is a cell of {region.path} (cell "
                                  f"{region.cell + 1}); check it after that cell, in the same notebook")
    return homes


# --------------------------------------------------------------------------------------------------
# Grading tests: @pytest.mark.exercise("NAME")


def scan_exercise_tests(text: str, path: str) -> list[ExerciseTest]:
    """Every ``pytest.mark.exercise("NAME")`` in a test file (decorator, ``pytestmark`` or ``pytest.param``)."""
    if "exercise" not in text:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise MarkerError(f"{_where(path, error.lineno or 0)}: not valid Python ({error.msg})") from None
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exercise"
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark"):
            continue
        args = node.args
        if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
            raise MarkerError(f"{_where(path, node.lineno)}: name the exercise with one string literal, "
                              "e.g. @pytest.mark.exercise(\"fgsm-step\")")
        found.append(ExerciseTest(args[0].value, path, node.lineno))
    return found


# --------------------------------------------------------------------------------------------------
# A whole repository


def _read_utf8(root: Path, name: str) -> str:
    try:
        return (root / name).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise MarkerError(f"{name}: not UTF-8 ({error}); save it as UTF-8 so that its markers can be "
                          "checked") from None


def scan(root: Path | str, *, require_tests: bool = True) -> Catalogue:
    """Find and check every marker and grading test under ``root``; raises :class:`MarkerError`.

    With ``require_tests``, every exercise needs a grading test and every grading test a known exercise.
    """
    root = Path(root).resolve()
    regions: list[Region] = []
    tests: list[ExerciseTest] = []
    checks: list[tuple[str, str, int]] = []
    for name in repository_files(root):
        if name.endswith(".py"):
            text = _read_utf8(root, name)
            regions.extend(scan_python(text, name))
            if name.startswith(TESTS_DIR + "/"):
                tests.extend(scan_exercise_tests(text, name))
        elif name.endswith(".ipynb"):
            try:
                notebook = json.loads(_read_utf8(root, name))
            except json.JSONDecodeError as error:
                raise MarkerError(f"{name}: not a valid notebook ({error})") from None
            regions.extend(scan_notebook(notebook, name))
            checks.extend((exercise, name, cell) for exercise, cell in scan_checks(notebook, name))
    exercises: dict[str, Exercise] = {}
    points_from: dict[str, Region] = {}
    for region in regions:
        if region.kind != "SOLUTION":
            continue
        exercise = exercises.setdefault(region.exercise, Exercise(region.exercise, DEFAULT_POINTS))
        exercise.regions.append(region)
        if region.points is not None:
            first = points_from.setdefault(region.exercise, region)
            if first.points != region.points:
                raise MarkerError(f"{region.where}: exercise {region.exercise!r} has points={region.points:g} here "
                                  f"but points={first.points:g} at {first.where}; give its points once")
            exercise.points = region.points
    for test in tests:
        if test.exercise in exercises:
            exercises[test.exercise].tests.append(test)
        elif require_tests:
            known = ", ".join(sorted(exercises)) or "none"
            raise MarkerError(f"{test.where}: the test names exercise {test.exercise!r}, which no BEGIN SOLUTION "
                              f"marker defines (exercises: {known})")
    if require_tests:
        for exercise in exercises.values():
            if not exercise.tests:
                raise MarkerError(f"{exercise.regions[0].where}: exercise {exercise.name!r} has no grading test; "
                                  f"mark one under {TESTS_DIR}/ with @pytest.mark.exercise({exercise.name!r})")
    homes = _homes(checks, exercises, require_tests)
    named = [name for name, _, _ in checks]  # the order in which the check cells name them
    ordered = sorted(homes, key=lambda n: (homes[n].notebook, homes[n].cell, named.index(n)))
    exercises = {name: exercises[name] for name in ordered + [n for n in exercises if n not in homes]}
    return Catalogue(root, regions, exercises, tests, homes)
