"""Exercises in notebook order: each exercise's home notebook is where a code cell checks it.

Small repositories only (the course's own homes are tested in tests/test_homework.py): the catalogue's
order, the errors of a home that is missing or ambiguous, the students' sheet, the copy of a student who has
worked up to a notebook, and checking several exercises in one run.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

from helpers.homework import MarkerError, check_exercises, release, scan, solved_through
from helpers.homework.__main__ import main
from helpers.homework.classroom import exercises_through
from helpers.homework.release import is_student_release

pytestmark = pytest.mark.skipif(is_student_release(Path(__file__).resolve().parent.parent),
                                reason="a student release: its solutions are stubs")

TOY = '''\
def double(x):
    """Twice x."""
    # BEGIN SOLUTION exercise=double points=2 hint="add x to itself"
    return x + x
    # END SOLUTION


def half(x):
    """Half of x."""
    # BEGIN SOLUTION exercise=half
    return x / 2
    # END SOLUTION


def triple(x):
    """Three times x."""
    # BEGIN SOLUTION exercise=triple points=3
    return 3 * x
    # END SOLUTION
'''
TESTS = '''\
import pytest

from helpers.toy import double, half, triple


@pytest.mark.exercise("double")
def test_double():
    assert double(2) == 4


@pytest.mark.exercise("half")
def test_half():
    assert half(2) == 1


@pytest.mark.exercise("triple")
def test_triple():
    assert triple(2) == 6
'''
CELL = "total = 0\nif True:\n    # BEGIN SOLUTION exercise=cell\n    total = 1\n    # END SOLUTION\nprint(total)"


def notebook(*cells):
    """A notebook of markdown ("# ...") and code cells."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) if c.startswith("#")
                                           else nbformat.v4.new_code_cell(c) for c in cells])


def repo(root, notebooks, extra=None):
    files = {"helpers/__init__.py": "", "helpers/toy.py": TOY, "tests/test_toy.py": TESTS, **(extra or {})}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name, book in notebooks.items():
        (root / "notebooks").mkdir(parents=True, exist_ok=True)
        nbformat.write(book, root / "notebooks" / name)
    return root


COURSE = {
    "00_start.ipynb": notebook("# Start", "# **Exercise `half` (1 point).**",
                               "from helpers.homework import check_exercise\ncheck_exercise(\"half\");",
                               "from helpers.toy import half\nhalf(2)"),
    "01_more.ipynb": notebook("# More", "# **Exercises `double` and `triple`.**",
                              "import helpers.homework\nhelpers.homework.check_exercises(\"triple\", \"double\");",
                              "from helpers.toy import double, triple\ndouble(triple(1))"),
}


def test_the_check_cells_give_each_exercise_its_home_and_the_catalogue_its_order(tmp_path):
    catalogue = scan(repo(tmp_path / "course", COURSE))
    assert list(catalogue.exercises) == ["half", "triple", "double"], "by notebook, then as the cell names them"
    assert {n: (h.notebook, h.cell) for n, h in catalogue.homes.items()} == {
        "half": ("notebooks/00_start.ipynb", 2), "triple": ("notebooks/01_more.ipynb", 2),
        "double": ("notebooks/01_more.ipynb", 2)}
    assert catalogue.homes["half"].where == "notebooks/00_start.ipynb, cell 3"


def test_a_repository_that_checks_no_exercise_in_a_notebook_has_no_homes(tmp_path):
    catalogue = scan(repo(tmp_path / "course", {"00_start.ipynb": notebook("# Start", "print(1)")}))
    assert catalogue.homes == {} and list(catalogue.exercises) == ["double", "half", "triple"]


def _with(cells_00=None, cells_01=None):
    return {"00_start.ipynb": notebook(*(cells_00 or ["# Start", "check_exercise(\"half\")"])),
            "01_more.ipynb": notebook(*(cells_01 or ["# More", "check_exercises(\"triple\", \"double\")"]))}


BAD_HOMES = {
    "not checked": (_with(cells_01=["# More", "check_exercise(\"double\")"]),
                    r"^helpers/toy\.py:\d+: exercise 'triple' is not checked in any notebook; announce it .*"
                    r"check_exercise\('triple'\)"),
    "unknown": (_with(cells_01=["# More", "check_exercises(\"triple\", \"double\", \"quadruple\")"]),
                r"^notebooks/01_more\.ipynb, cell 2, line 1: checks exercise 'quadruple', which no BEGIN SOLUTION "
                r"marker defines \(exercises: double, half, triple\)"),
    "two notebooks": (_with(cells_01=["# More", "check_exercises(\"triple\", \"double\", \"half\")"]),
                      r"^notebooks/01_more\.ipynb, cell 2, line 1: exercise 'half' is checked here and in "
                      r"notebooks/00_start\.ipynb, cell 2; check it once"),
    "not a literal": (_with(cells_01=["# More", "name = 'triple'\ncheck_exercises(name, \"double\")"]),
                      r"^notebooks/01_more\.ipynb, cell 2, line 2: name the exercises with string literals"),
    "not python": (_with(cells_01=["# More", "%time check_exercises(\"triple\", \"double\")"]),
                   r"^notebooks/01_more\.ipynb, cell 2, line 1: a cell that checks an exercise must be plain Python"),
}


@pytest.mark.parametrize("case", BAD_HOMES, ids=list(BAD_HOMES))
def test_a_missing_or_ambiguous_home_is_an_error_naming_the_place(tmp_path, case):
    notebooks, message = BAD_HOMES[case]
    with pytest.raises(MarkerError, match=message):
        scan(repo(tmp_path / "course", notebooks))


@pytest.mark.parametrize("checked", ["before", "elsewhere"])
def test_an_exercise_in_a_notebook_cell_is_checked_after_that_cell_in_its_notebook(tmp_path, checked):
    cells_00 = ["# Start", "check_exercise(\"half\")", CELL]
    cells_01 = ["# More", "check_exercises(\"triple\", \"double\")"]
    if checked == "before":
        cells_00.insert(2, "check_exercise(\"cell\")")
    else:
        cells_01.append("check_exercise(\"cell\")")
    tests = "import pytest\n\n\n@pytest.mark.exercise(\"cell\")\ndef test_cell():\n    assert True\n"
    root = repo(tmp_path / "course", _with(cells_00, cells_01), {"tests/test_cell.py": tests})
    number = 4 if checked == "before" else 3
    with pytest.raises(MarkerError, match=rf"exercise 'cell' is a cell of notebooks/00_start\.ipynb \(cell {number}\); "
                                          r"check it after that cell, in the same notebook"):
        scan(root)
    cells_00.remove("check_exercise(\"cell\")") if checked == "before" else cells_01.pop()
    cells_00.append("check_exercise(\"cell\")")
    root = repo(tmp_path / "fixed", _with(cells_00, cells_01), {"tests/test_cell.py": tests})
    assert scan(root).homes["cell"].cell == 3


def test_the_students_sheet_and_the_manifest_list_the_exercises_by_home_notebook(tmp_path):
    out = release(repo(tmp_path / "course", COURSE), tmp_path / "student").outdir
    sheet = (out / "HOMEWORK.md").read_text()
    rows = [line for line in sheet.splitlines() if line.startswith("| `")]
    assert rows == ["| `00_start` | `half` | 1 | helpers/toy.py, half() |",
                    "| `01_more` | `triple` | 3 | helpers/toy.py, triple() |",
                    "| `01_more` | `double` | 2 | helpers/toy.py, double() |"], sheet
    assert "check_exercise(\"NAME\")" in sheet and "python -m helpers.homework grade ." in sheet
    manifest = json.loads((out / "homework.json").read_text())
    assert list(manifest["exercises"]) == ["half", "triple", "double"]
    assert manifest["exercises"]["triple"]["notebook"] == "notebooks/01_more.ipynb"


def test_the_copy_of_a_student_who_worked_up_to_a_notebook_solves_exactly_its_exercises(tmp_path):
    root = repo(tmp_path / "course", COURSE)
    catalogue = scan(root)
    assert exercises_through(catalogue, "00") == ["half"]
    assert exercises_through(catalogue, "00_start.ipynb") == ["half"]
    assert exercises_through(catalogue, "notebooks/01_more.ipynb") == ["half", "triple", "double"]
    with pytest.raises(ValueError, match="no single notebook '02'; the notebooks are: 00_start, 01_more"):
        exercises_through(catalogue, "02")
    copy = solved_through(root, tmp_path / "through-00", "00")
    toy = (copy / "helpers/toy.py").read_text()
    assert "    return x / 2\n" in toy and "return x + x" not in toy and "return 3 * x" not in toy
    assert toy.count("raise NotImplementedError") == 2
    assert main(["--root", str(root), "reference", str(tmp_path / "cli"), "--through", "01"]) == 0
    assert "raise NotImplementedError" not in (tmp_path / "cli/helpers/toy.py").read_text()
    assert main(["--root", str(root), "reference", str(tmp_path / "both"), "--through", "01",
                 "--exercises", "half"]) == 2


def test_check_lists_the_exercises_under_their_home_notebooks(tmp_path, capsys):
    assert main(["--root", str(repo(tmp_path / "course", COURSE)), "check"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "notebooks/00_start.ipynb:"
    assert re.match(r"^  half\s+1 point\s+1 test  helpers/toy\.py, half\(\)  \(checked in cell 3\)$", printed[1])
    assert printed[2] == "notebooks/01_more.ipynb:" and printed[3].split()[0] == "triple"
    assert printed[-1] == "3 exercises, 6 points"


def test_check_exercises_runs_several_exercises_in_one_run_and_reports_each(tmp_path, capsys):
    root = repo(tmp_path / "course", COURSE)
    student = solved_through(root, tmp_path / "student", "00")
    checks = check_exercises("half", "double", root=student)
    printed = capsys.readouterr().out
    assert [(c.name, c.passed, c.total, c.done) for c in checks] == [("half", 1, 1, True), ("double", 0, 1, False)]
    assert printed.splitlines()[0] == "exercise half: 1 of 1 tests pass (done)"
    assert "exercise double: 0 of 1 tests pass (not done yet)" in printed
    assert "not written yet (add x to itself)" in printed and "Traceback" not in printed
    with pytest.raises(TypeError, match="name at least one exercise"):
        check_exercises(root=student)
    with pytest.raises(TypeError, match="an exercise's name is a str"):
        check_exercises("half", 2, root=student)
    with pytest.raises(ValueError, match="unknown exercise 'quadruple'"):
        check_exercises("half", "quadruple", root=student)


def test_grade_says_what_to_look_at_next_in_course_order(tmp_path, capsys):
    root = repo(tmp_path / "course", COURSE)
    student = solved_through(root, tmp_path / "student", "00")
    assert main(["--root", str(root), "grade", str(student)]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().splitlines()[-1] == (
        "next: exercise triple, the first one in course order not yet at full marks: write it in helpers/toy.py, "
        "triple(); it is announced in notebooks/01_more.ipynb, where check_exercise('triple') checks it")
    assert "\ntriple: 0 / 3" in printed and "\ndouble: 0 / 2" in printed and "\nhalf:" not in printed
    assert main(["--root", str(student), "grade", str(student)]) == 0  # a student checking their own copy
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("next: exercise triple, ")
