"""Homework mode: the release of this repository, its grading, and the errors for bad markers.

The release is written once per module (a fraction of a second); grading runs pytest in a subprocess on
the stubs and on the solutions; the student notebooks run under nbval until their first exercise.
"""

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers.homework import MarkerError, find_leaks, grade, is_student_release, release, scan
from helpers.homework.__main__ import main
from helpers.homework.release import SHORTEST_LEAK, normalise

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(is_student_release(ROOT), reason="a student release: its solutions are stubs")

# Exercises whose tests need another exercise solved first (a test of proximity-term computes the loss).
BUILDS_ON = {"proximity-term": {"fooling-objective"}}


@pytest.fixture(scope="module")
def catalogue():
    return scan(ROOT)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    start = time.perf_counter()
    result = release(ROOT, tmp_path_factory.mktemp("release") / "student")
    print(f"release: {result.files} files in {time.perf_counter() - start:.1f} s")
    return result


def text_files(folder):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


# --------------------------------------------------------------------------------------------------
# The exercises of this repository


def test_every_lecture_notebook_is_the_home_of_exercises_listed_in_course_order(catalogue):
    """Each exercise is checked in one notebook, its home (the first that needs it); the catalogue lists
    them by home. That no notebook needs a later notebook's exercise is proven by the notebook runs
    themselves: conftest.py runs notebook k against the copy in which only the exercises of 00..k are
    solved (test_notebooks_run_against_the_copy_solved_up_to_them)."""
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))
    homes = catalogue.homes
    assert set(homes) == set(catalogue.exercises), "every exercise has a home"
    assert {h.notebook for h in homes.values()} == set(notebooks), "every notebook is the home of an exercise"
    order = [(homes[name].notebook, homes[name].cell) for name in catalogue.exercises]
    assert order == sorted(order)
    assert any(r.cell is not None for r in catalogue.regions), "some exercises are notebook cells"
    for exercise in catalogue.exercises.values():
        assert exercise.points > 0 and exercise.tests


def test_each_exercise_is_announced_just_before_its_check_with_name_points_and_file(catalogue):
    """The markdown cell before the check cell (before the exercise cell, for an exercise that is a notebook
    cell) names the exercise and its points, and links the file to edit."""
    for name, exercise in catalogue.exercises.items():
        home = catalogue.homes[name]
        cells = nbformat.read(ROOT / home.notebook, as_version=4).cells
        index = home.cell - 1
        while cells[index].cell_type != "markdown":
            assert any(r.cell == index for r in exercise.regions), f"{home.where}: code between announcement and check"
            index -= 1
        announcement = cells[index].source
        assert f"`{name}`" in announcement and re.search(rf"\b{exercise.points:g} points?\b", announcement), \
            f"{home.notebook}, cell {index + 1} does not announce {name} ({exercise.points:g} points)"
        for path in {r.path for r in exercise.regions if r.cell is None}:
            assert f"](../{path})" in announcement, f"{home.notebook}, cell {index + 1}: no link to {path}"


def test_every_check_cell_of_the_committed_notebooks_passed(catalogue):
    """In the instructor's repository the check cells check the solutions: each committed output says every
    test of every exercise it names passed."""
    for name, home in catalogue.homes.items():
        cell = nbformat.read(ROOT / home.notebook, as_version=4).cells[home.cell]
        printed = "".join(o.get("text", "") for o in cell.outputs)
        match = re.search(rf"^exercise {re.escape(name)}: (\d+) of (\d+) tests pass \(done\)$", printed, re.M)
        assert match and match[1] == match[2] != "0", f"{home.where}: {printed!r}"


def test_notebooks_run_against_the_copy_solved_up_to_them(catalogue, monkeypatch):
    """conftest.py's hook: while a notebook's kernel starts, PYTHONPATH leads to the copy in which exactly
    the exercises of the notebooks up to it are solved."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    monkeypatch.delenv("HOMEWORK_PROGRESSIVE", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    notebook = ROOT / "notebooks" / "01_attacking_a_network.ipynb"

    class Item:
        fspath = notebook

    hook = conftest.pytest_runtest_setup(Item())  # a hook wrapper: a generator around nbval's setup
    next(hook)
    copy = Path(os.environ["PYTHONPATH"].split(os.pathsep)[0])
    assert os.environ["PYTHONPATH"].split(os.pathsep)[1:] == ["/somewhere"]
    with pytest.raises(StopIteration):
        next(hook)
    assert os.environ["PYTHONPATH"] == "/somewhere"
    through = {name for name, home in catalogue.homes.items() if home.notebook <= notebook.relative_to(ROOT).as_posix()}
    assert "fgsm-step" in through and "nes" not in through
    for name, exercise in catalogue.exercises.items():
        for region in exercise.regions:
            if region.cell is not None:
                continue
            text = (copy / region.path).read_text()
            stub = f"raise NotImplementedError(\"exercise {name}:"
            assert (stub in text) == (name not in through), f"{name} in {region.path}"
    assert conftest.progressive_copy(ROOT / "tests" / "x.ipynb") is None
    monkeypatch.setenv("HOMEWORK_PROGRESSIVE", "0")
    assert conftest.progressive_copy(notebook) is None


def test_marking_left_the_committed_notebooks_executed_with_their_outputs(catalogue):
    for region in catalogue.regions:
        if region.cell is not None:
            cell = nbformat.read(ROOT / region.path, as_version=4).cells[region.cell]
            assert cell.execution_count is not None and cell.outputs is not None


# --------------------------------------------------------------------------------------------------
# The release


def test_release_stubs_every_exercise_and_keeps_signatures_and_docstrings(catalogue, released):
    out = released.outdir
    for path in {r.path for r in catalogue.regions if r.kind == "SOLUTION"}:
        regions = [r for r in catalogue.regions_in(path) if r.kind == "SOLUTION"]
        if path.endswith(".py"):
            text = (out / path).read_text()
            for name in {r.exercise for r in regions}:
                stubs = re.findall(rf'^\s*raise NotImplementedError\("exercise {re.escape(name)}: ', text, re.M)
                assert len(stubs) == sum(r.exercise == name for r in regions), (path, name)
            before, after = _functions(ROOT / path), _functions(out / path)
            for region in regions:
                old, new = before[region.function], after[region.function]
                assert ast.dump(old.args) == ast.dump(new.args), f"{path}: {region.function} changed its signature"
                assert ast.get_docstring(old) == ast.get_docstring(new), f"{path}: {region.function} lost its docstring"
        else:
            cells = nbformat.read(out / path, as_version=4).cells
            for region in regions:
                cell = cells[region.cell]
                assert f"# YOUR CODE HERE (exercise {region.exercise})" in cell.source
                assert f'raise NotImplementedError("exercise {region.exercise}: ' in cell.source
                assert region.exercise in cell.metadata["homework"]["exercises"]
    manifest = json.loads((out / "homework.json").read_text())
    assert {n: e["points"] for n, e in manifest["exercises"].items()} == \
        {n: e.points for n, e in catalogue.exercises.items()}


def _functions(path):
    tree, found = ast.parse(path.read_text()), {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found[name] = child
                visit(child, name + ".")

    visit(tree, "")
    return found


def test_release_has_no_marker_hidden_test_output_or_history(catalogue, released):
    out = released.outdir
    assert scan(out, require_tests=False).regions == []
    hidden = [name for r in catalogue.regions if r.kind == "HIDDEN TESTS"
              for name in re.findall(r"^def (test_\w+)", "\n".join(r.body), re.M)]
    assert hidden, "this repository has hidden tests"
    for path, text in text_files(out):
        for name in hidden:
            assert name not in text, f"hidden test {name} is in the release ({path})"
    for path in out.rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path
    for part in (".git", "__pycache__", ".venv", ".hypothesis"):
        assert not list(out.rglob(part)), part
    assert (out / "helpers" / "homework" / "__init__.py").is_file() and (out / "HOMEWORK.md").is_file()


def test_no_line_of_a_solution_appears_anywhere_in_the_release(catalogue, released):
    solution = {normalise(line) for r in catalogue.regions if r.kind == "SOLUTION" for line in r.body}
    solution = {line for line in solution if len(line) >= SHORTEST_LEAK and not line.startswith("#")}
    assert len(solution) >= 30
    for path, text in text_files(released.outdir):
        if path.suffix == ".ipynb":
            text += "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for line in solution:
            assert line not in text, f"{path.relative_to(released.outdir)} holds the solution line {line!r}"
    assert find_leaks(catalogue, released.outdir) == []


def test_release_installs_and_imports(released, tmp_path):
    # Offline, so without build isolation: the build backend comes from this environment (torch needs it).
    pytest.importorskip("setuptools", reason="building the release offline needs setuptools installed")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(released.outdir)], check=True, capture_output=True)
    script = ("import importlib, pkgutil, helpers\n"
              "names = [m.name for m in pkgutil.walk_packages(helpers.__path__, 'helpers.')]\n"
              "for name in names: importlib.import_module(name)\n"
              "print(helpers.__file__, len(names))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr[-3000:]
    where, count = result.stdout.split()
    assert Path(where).is_relative_to(target) and int(count) >= 15
    assert (target / "helpers" / "homework" / "_runner.py").is_file()


# --------------------------------------------------------------------------------------------------
# Grading


def test_grading_fails_every_exercise_on_the_stubs(catalogue, released, tmp_path, capsys):
    report = tmp_path / "grade.json"
    assert main(["--root", str(ROOT), "grade", str(released.outdir), "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    total = sum(e.points for e in catalogue.exercises.values())
    assert re.search(rf"^total\s+0 / {total:g}$", printed, re.M), printed
    stubs = json.loads(report.read_text())
    assert stubs["errors"] == [] and stubs["total"] == 0 and stubs["max"] == total
    for name, result in stubs["exercises"].items():
        assert result["tests"] and result["passed"] == 0, name
        allowed = {name} | BUILDS_ON.get(name, set())
        for test in result["tests"]:
            assert test["outcome"] == "failed", test
            if test["hidden"]:  # by name and outcome only
                assert test["message"] == "failed" and test["seconds"] == 0, test
                continue
            assert re.search(rf"NotImplementedError: exercise ({'|'.join(map(re.escape, allowed))}):",
                             test["message"]), test
    # On the solutions every exercise test passes (tests/test_grading_security.py grades them: 39 / 39).


def run_until_first_error(notebooks: list[Path], root: Path) -> tuple[dict, dict[str, str]]:
    """Run the code cells of each notebook in order, in one fast-mode kernel that imports ``helpers`` from
    ``root`` (the namespace is reset between notebooks), until a cell raises. Returns, per notebook stem,
    (number of code cells run, exception name, message) of the first error, or (cells, "", "") if none;
    and, per notebook stem, what its cells that check exercises printed."""
    from jupyter_client.manager import KernelManager

    env = {**os.environ, "PYTHONPATH": str(root), "COURSE_FAST_MODE": "1", "MPLBACKEND": "Agg",
           "PYTHONDONTWRITEBYTECODE": "1"}
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(root / "notebooks"), env=env)
    client = manager.client()
    client.start_channels()
    results, checks = {}, {}
    try:
        client.wait_for_ready(timeout=120)
        for path in notebooks:
            client.execute_interactive("%reset -f\nimport matplotlib.pyplot\nmatplotlib.pyplot.close('all')",
                                       timeout=60, output_hook=lambda message: None)
            cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
            results[path.stem] = (len(cells), "", "")
            for index, source in enumerate(cells):
                printed = []

                def keep(message, printed=printed):
                    if message["msg_type"] == "stream":
                        printed.append(message["content"]["text"])
                    elif message["msg_type"] == "error":
                        printed.append("\n".join(message["content"]["traceback"]))

                reply = client.execute_interactive(source, timeout=300, output_hook=keep)
                if "check_exercise" in source:
                    checks[path.stem] = checks.get(path.stem, "") + "".join(printed)
                if reply["content"]["status"] == "error":
                    results[path.stem] = (index + 1, reply["content"]["ename"], reply["content"]["evalue"])
                    break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return results, checks


def test_student_notebooks_run_until_their_first_exercise(catalogue, released):
    """Each released notebook runs in fast mode, against the release's own helpers, until a cell raises the
    NotImplementedError of an exercise; every cell before it runs without error. A notebook that stops at
    one of its own exercises has checked it just before, and the check said what is missing, in plain
    words, without a traceback. One kernel runs them all."""
    out = released.outdir
    with_exercises = {Path(home.notebook).stem for home in catalogue.homes.values()}
    paths = [p for p in sorted((out / "notebooks").glob("*.ipynb")) if p.stem in with_exercises]
    results, checks = run_until_first_error(paths, out)
    stopped = {}
    for stem, (cells_run, name, message) in results.items():
        match = re.match(r"exercise ([\w.-]+):", message)
        assert name == "NotImplementedError" and match, f"{stem} stopped at code cell {cells_run} on {name}: {message}"
        stopped[stem] = (cells_run, match[1])
    print("student notebooks stop at (code cells run, exercise):", stopped)
    assert stopped.keys() == with_exercises, f"never reached an exercise: {with_exercises - stopped.keys()}"
    for stem, (_, exercise) in stopped.items():
        if Path(catalogue.homes[exercise].notebook).stem != stem:
            continue  # stopped at an earlier notebook's exercise, before its own first check
        if any(r.cell is not None for r in catalogue.exercises[exercise].regions):
            continue  # stopped at the exercise's own cell, whose check comes after it
        printed = checks.get(stem, "")
        assert re.search(rf"^exercise {re.escape(exercise)}: 0 of \d+ tests pass \(not done yet\)$", printed, re.M), \
            f"{stem} stopped at its exercise {exercise} without checking it first: {printed!r}"
        assert "Traceback" not in printed and re.search(r"^  not yet  .*: not written yet \(", printed, re.M), printed
    assert any(Path(catalogue.homes[e].notebook).stem == stem for stem, (_, e) in stopped.items())


# --------------------------------------------------------------------------------------------------
# Small repositories: exact stubs, partial credit, and the errors


def make_repo(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, list):  # notebook code cells
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title")] +
                                                [nbformat.v4.new_code_cell(s) for s in text])
            nbformat.write(notebook, path)
        else:
            path.write_text(text)
    return root


TOY_HELPER = '''\
def double(x):
    """Twice x."""
    if x is None:
        raise ValueError("x")
    for _ in range(1):
        # BEGIN SOLUTION exercise=double points=2 hint="add x to itself"
        result = sum((x, x), 0)
        # END SOLUTION
    return result


def half(x):
    """Half of x."""
    # BEGIN SOLUTION exercise=half
    return x / 2
    # END SOLUTION
'''
TOY_TESTS = '''\
import pytest

from helpers.toy import double, half


@pytest.mark.exercise("double")
def test_double():
    assert double(2) == 4


@pytest.mark.exercise("double")
def test_double_negative():
    assert double(-3) == -6


# BEGIN HIDDEN TESTS
@pytest.mark.exercise("half")
def test_half_hidden():
    assert half(8) == 4
# END HIDDEN TESTS


@pytest.mark.exercise("half")
def test_half():
    assert half(2) == 1
'''
TOY_CELL = '''\
values = [1, 2]
if True:
    # BEGIN SOLUTION exercise=half
    total = sum(values)
    # END SOLUTION
print(total)'''


def toy_repo(root):
    return make_repo(root, {"helpers/__init__.py": "", "helpers/toy.py": TOY_HELPER, "tests/test_toy.py": TOY_TESTS,
                            "notebooks/toy.ipynb": [TOY_CELL], "data/blob.bin": ""})


def test_release_of_a_small_repository_is_exactly_as_documented(tmp_path):
    root = toy_repo(tmp_path / "solution")
    result = release(root, tmp_path / "student")
    out = result.outdir
    assert (out / "helpers/toy.py").read_text() == '''\
def double(x):
    """Twice x."""
    if x is None:
        raise ValueError("x")
    for _ in range(1):
        # YOUR CODE HERE (exercise double)
        raise NotImplementedError("exercise double: add x to itself")
        # END OF YOUR CODE (exercise double)
    return result


def half(x):
    """Half of x."""
    # YOUR CODE HERE (exercise half)
    raise NotImplementedError("exercise half: write this part (see the docstring)")
    # END OF YOUR CODE (exercise half)
'''
    tests = (out / "tests/test_toy.py").read_text()
    assert "test_half_hidden" not in tests and "HIDDEN" not in tests and "\n\n\n\n" not in tests
    assert "def test_half():" in tests and "def test_double_negative():" in tests
    cell = nbformat.read(out / "notebooks/toy.ipynb", as_version=4).cells[1]
    assert cell.source == ('values = [1, 2]\nif True:\n    # YOUR CODE HERE (exercise half)\n'
                           '    raise NotImplementedError("exercise half: write this part (see the docstring)")\n'
                           '    # END OF YOUR CODE (exercise half)\nprint(total)')
    assert json.loads((out / "homework.json").read_text())["exercises"]["double"]["points"] == 2


def test_grading_gives_each_passing_test_its_share(tmp_path):
    root = toy_repo(tmp_path / "solution")
    out = release(root, tmp_path / "student").outdir
    student = (out / "helpers/toy.py").read_text()
    student = student.replace('raise NotImplementedError("exercise half: write this part (see the docstring)")',
                              "return x // 2")  # right on 2 and 8 ...
    student = student.replace('raise NotImplementedError("exercise double: add x to itself")',
                              "result = abs(x) * 2")  # ... wrong on negative numbers
    (out / "helpers/toy.py").write_text(student)
    (out / "tests/test_toy.py").write_text("def test_nothing():\n    pass\n")  # the student's tests do not count
    result = grade(out, tests_from=root)
    scores = {e.name: (e.passed, len(e.tests), e.score) for e in result.exercises}
    assert scores == {"double": (1, 2, 1.0), "half": (2, 2, 1.0)}, result.table()
    assert result.total == 2.0 and result.max_points == 3.0
    own = grade(out, tests_from=out)  # a student checking their copy: visible tests, points from homework.json
    assert {e.name: (e.passed, len(e.tests)) for e in own.exercises} == {"double": (0, 0), "half": (0, 0)}


def test_grading_a_student_copy_with_its_own_visible_tests(tmp_path):
    root = toy_repo(tmp_path / "solution")
    out = release(root, tmp_path / "student").outdir
    result = grade(out, tests_from=out)
    scores = {e.name: (e.passed, len(e.tests), e.points) for e in result.exercises}
    assert scores == {"double": (0, 2, 2.0), "half": (0, 1, 1.0)}, "visible tests only; points from homework.json"


BAD = {
    "unbalanced": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    return 1\n"},
                   r"^helpers/a\.py:2: BEGIN SOLUTION has no END SOLUTION"),
    "end without begin": ({"helpers/a.py": "def f():\n    return 1\n    # END SOLUTION\n"},
                          r"^helpers/a\.py:3: END SOLUTION without a BEGIN SOLUTION"),
    "nested": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    # BEGIN SOLUTION exercise=g\n"
                                "    return 1\n    # END SOLUTION\n    # END SOLUTION\n"},
               r"^helpers/a\.py:3: BEGIN SOLUTION inside the BEGIN SOLUTION of line 2: regions cannot be nested"),
    "mismatched": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    return 1\n"
                                    "    # END HIDDEN TESTS\n"},
                   r"^helpers/a\.py:4: END HIDDEN TESTS closes the BEGIN SOLUTION of line 2"),
    "module level": ({"helpers/a.py": "# BEGIN SOLUTION exercise=e\nX = 1\n# END SOLUTION\n"},
                     r"^helpers/a\.py:1: BEGIN SOLUTION outside a function body"),
    "class body": ({"helpers/a.py": "class A:\n    # BEGIN SOLUTION exercise=e\n    x = 1\n    # END SOLUTION\n"},
                   r"^helpers/a\.py:2: BEGIN SOLUTION outside a function body"),
    "two blocks": ({"helpers/a.py": "def f(a):\n    if a:\n        # BEGIN SOLUTION exercise=e\n        a = 1\n"
                                    "    return a\n        # END SOLUTION\n"},
                   r"^helpers/a\.py:3: the SOLUTION region spans more than one block"),
    "crossing": ({"helpers/a.py": "def f(a):\n    x = (1,\n    # BEGIN SOLUTION exercise=e\n         2)\n"
                                  "    return x\n    # END SOLUTION\n"},
                 r"^helpers/a\.py:3: the statement on line 2 crosses the markers of the region"),
    "docstring": ({"helpers/a.py": 'def f():\n    # BEGIN SOLUTION exercise=e\n    """Doc."""\n    return 1\n'
                                   "    # END SOLUTION\n"},
                  r"^helpers/a\.py:2: the region includes the docstring of f\(\)"),
    "indentation": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    return 1\n# END SOLUTION\n"},
                    r"^helpers/a\.py:4: END SOLUTION is indented by 0 but its BEGIN \(line 2\) by 4"),
    "empty": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    # END SOLUTION\n    return 1\n"},
              r"^helpers/a\.py:2: the SOLUTION region is empty"),
    "inline": ({"helpers/a.py": "def f():\n    return 1  # BEGIN SOLUTION exercise=e\n"},
               r"^helpers/a\.py:2: a marker must be a comment on a line of its own"),
    "no exercise name": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION points=2\n    return 1\n"
                                          "    # END SOLUTION\n"},
                         r"^helpers/a\.py:2: BEGIN SOLUTION needs exercise=NAME"),
    "unknown option": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e point=2\n    return 1\n"
                                        "    # END SOLUTION\n"},
                       r"^helpers/a\.py:2: unknown option 'point=2'"),
    "points disagree": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e points=2\n    return 1\n"
                                         "    # END SOLUTION\n\n\ndef g():\n    # BEGIN SOLUTION exercise=e points=3\n"
                                         "    return 2\n    # END SOLUTION\n",
                         "tests/test_a.py": "import pytest\n@pytest.mark.exercise('e')\ndef test_e(): pass\n"},
                        r"^helpers/a\.py:8: exercise 'e' has points=3 here but points=2 at helpers/a\.py:2"),
    "no test": ({"helpers/a.py": "def f():\n    # BEGIN SOLUTION exercise=e\n    return 1\n    # END SOLUTION\n"},
                r"^helpers/a\.py:2: exercise 'e' has no grading test; mark one under tests/ with "
                r"@pytest\.mark\.exercise\('e'\)"),
    "unknown exercise": ({"tests/test_a.py": "import pytest\n\n\n@pytest.mark.exercise('nope')\ndef test_x(): pass\n"},
                         r"^tests/test_a\.py:4: the test names exercise 'nope', which no BEGIN SOLUTION"),
    "notebook unbalanced": ({"notebooks/n.ipynb": ["x = 1\n# BEGIN SOLUTION exercise=e\ny = 2"]},
                            r"^notebooks/n\.ipynb, cell 2, line 2: BEGIN SOLUTION has no END SOLUTION"),
    "hidden tests in a notebook": ({"notebooks/n.ipynb": ["# BEGIN HIDDEN TESTS\nassert True\n# END HIDDEN TESTS"]},
                                   r"^notebooks/n\.ipynb, cell 2, line 1: HIDDEN TESTS belong in the test files"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_markers_give_an_error_naming_file_and_line(tmp_path, case):
    files, message = BAD[case]
    make_repo(tmp_path, {"helpers/__init__.py": "", **files})
    with pytest.raises(MarkerError, match=message):
        scan(tmp_path)
    with pytest.raises(MarkerError, match=message):
        release(tmp_path, tmp_path / "release")


def test_hidden_tests_that_leave_a_decorator_behind_are_an_error(tmp_path):
    root = toy_repo(tmp_path / "solution")
    tests = TOY_TESTS.replace('# BEGIN HIDDEN TESTS\n@pytest.mark.exercise("half")\n',
                              '@pytest.mark.exercise("half")\n# BEGIN HIDDEN TESTS\n')
    (root / "tests/test_toy.py").write_text(tests)
    with pytest.raises(MarkerError, match=r"^tests/test_toy\.py:17: the markers are indented by 0 but the code "
                                          r"they mark by 4 \(inside the statement of line 16: mark whole statements, "
                                          r"decorators included\)"):
        release(root, tmp_path / "student")


def test_a_solution_line_written_elsewhere_is_reported_as_a_leak(tmp_path):
    root = toy_repo(tmp_path / "solution")
    with open(root / "helpers/toy.py", "a") as handle:
        handle.write("\n\ndef quadruple(x):\n    result = sum((x, x), 0)\n    return 2 * result\n")
    with pytest.raises(MarkerError, match=r"solution lines appear in the release.*\n  helpers/toy\.py:\d+: "
                                          r"'result = sum\(\(x, x\), 0\)'"):
        release(root, tmp_path / "student")


def test_cli_reports_errors_with_exit_code_2(tmp_path, capsys):
    make_repo(tmp_path, BAD["unbalanced"][0])
    assert main(["--root", str(tmp_path), "check"]) == 2
    assert "error: helpers/a.py:2: BEGIN SOLUTION has no END SOLUTION" in capsys.readouterr().err
    toy_repo(tmp_path / "toy")
    assert main(["--root", str(tmp_path / "toy"), "release", str(tmp_path / "out")]) == 0
    assert main(["--root", str(tmp_path / "toy"), "release", str(tmp_path / "out")]) == 2  # not empty
    assert "exists and is not empty" in capsys.readouterr().err
