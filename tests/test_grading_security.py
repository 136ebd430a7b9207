"""The grader as a hostile student meets it: every attack scores no more than the honest work it carries.

Most attacks run against a toy course (two exercises, one hidden test; grading it takes about a second);
the last tests grade the course itself: the stubs, the solutions, and stubs that return an object equal
to anything. Each attack is a small edit of a fresh student release; the honest score of the release is 0.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.homework import is_student_release, release, scan
from helpers.homework.__main__ import main
from helpers.homework.classroom import reference_submission
from helpers.homework.grade import grade, prepare_template
from helpers.homework.sandbox import _others_can_read, best_layer
from helpers.homework.splice import find_blocks

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(is_student_release(ROOT), reason="a student release: its solutions are stubs")

TOY = '''\
def double(x):
    """Twice x (an int)."""
    # BEGIN SOLUTION exercise=double points=2
    return 2 * x
    # END SOLUTION


def half(x):
    """Half of x (an int), rounded down."""
    # BEGIN SOLUTION exercise=half
    return x // 2
    # END SOLUTION
'''
TOY_TESTS = '''\
import pytest

from helpers.toy import double, half


@pytest.mark.exercise("double")
def test_double():
    result = double(2)
    assert type(result) is int and result == 4


@pytest.mark.exercise("double")
def test_double_negative():
    result = double(-3)
    assert type(result) is int and result == -6


# BEGIN HIDDEN TESTS
@pytest.mark.exercise("half")
def test_half_hidden():
    secret_value_of_the_hidden_test = half(8)
    assert type(secret_value_of_the_hidden_test) is int and secret_value_of_the_hidden_test == 4
# END HIDDEN TESTS


@pytest.mark.exercise("half")
def test_half():
    result = half(2)
    assert type(result) is int and result == 1
'''
PYPROJECT = '[tool.pytest.ini_options]\nmarkers = ["exercise(name): a grading test"]\n'
HIDDEN_SECRET = "secret_value_of_the_hidden_test"
LAYER = best_layer()
ISOLATED = LAYER in ("bubblewrap", "unshare")  # own PID and network namespaces
# Whether the tests cannot write the grader's files: bubblewrap's read-only view, or test processes that run
# as nobody (the grader is root and the Python environment is readable by others).
PROTECTED = LAYER == "bubblewrap" or (os.getuid() == 0 and _others_can_read(Path(tempfile.gettempdir())))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The toy course: the instructor's repository, its release, and its grading template."""
    base = tmp_path_factory.mktemp("course")
    root = base / "instructor"
    for name, text in {"helpers/__init__.py": "", "helpers/toy.py": TOY, "tests/test_toy.py": TOY_TESTS,
                       "pyproject.toml": PYPROJECT}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    released = release(root, base / "release").outdir
    return root, released, prepare_template(root, base / "template")


@pytest.fixture
def student(course, tmp_path):
    target = tmp_path / "student"
    shutil.copytree(course[1], target)
    return target


def write_region(student: Path, exercise: str, code: str, path="helpers/toy.py") -> None:
    """Put ``code`` (indented like a function body) between the markers of ``exercise``."""
    lines = (student / path).read_text().splitlines()
    block = next(b for b in find_blocks(lines, path) if b.exercise == exercise)
    body = ["    " + line if line.strip() else "" for line in code.strip("\n").splitlines()]
    lines[block.line:block.line + len(block.body)] = body
    (student / path).write_text("\n".join(lines) + "\n")


def graded(course, student, **options):
    return grade(student, template=course[2], **options)


def scores(result):
    return {e.name: e.score for e in result.exercises}


def fingerprint(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# The honest baseline


def test_the_stubs_score_zero_and_the_solutions_full_marks(course, student):
    result = graded(course, student)
    assert result.total == 0 and result.errors == [] and not result.flagged, result.as_json()
    write_region(student, "double", "return 2 * x")
    write_region(student, "half", "return x // 2")
    before = fingerprint(student)
    result = graded(course, student)
    assert scores(result) == {"double": 2.0, "half": 1.0} and result.errors == [], result.as_json()
    assert {t.nodeid.split("::")[-1]: t.hidden for t in result.exercises[1].tests} == \
        {"test_half": False, "test_half_hidden": True}
    assert fingerprint(student) == before, "grading must not modify the submission"
    assert result.sandbox == LAYER


def test_code_outside_the_regions_plays_no_part(course, student):
    text = (student / "helpers/toy.py").read_text()
    (student / "helpers/toy.py").write_text(text.replace('    """Twice x (an int)."""\n',
                                                         '    """Twice x (an int)."""\n    return 2 * x\n'))
    (student / "tests/test_mine.py").write_text(
        "import pytest\n\n@pytest.mark.exercise('half')\ndef test_free():\n    pass\n")
    result = graded(course, student)
    assert result.total == 0, result.as_json()
    assert {t.nodeid.split("::")[-1] for e in result.exercises for t in e.tests} == \
        {"test_double", "test_double_negative", "test_half_hidden", "test_half"}


# --------------------------------------------------------------------------------------------------
# The attacks of the issue, each scoring no more than its honest score (0 unless stated)

FORGE_REPORTS = '''\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''


def test_a_pytest_ini_conftest_or_plugin_of_the_student_plays_no_part(course, student):
    (student / "pytest.ini").write_text("[pytest]\naddopts = -p myplugin\n")
    (student / "myplugin.py").write_text(FORGE_REPORTS)
    (student / "conftest.py").write_text(FORGE_REPORTS)
    (student / "tests/conftest.py").write_text(FORGE_REPORTS)
    (student / "setup.cfg").write_text("[tool:pytest]\naddopts = -p myplugin\n")
    for shadow in ("homework_grading_plugin.py", "_runner.py", "helpers/homework/_runner.py"):
        (student / shadow).parent.mkdir(parents=True, exist_ok=True)
        (student / shadow).write_text(FORGE_REPORTS + "\nraise SystemExit(0)\n")
    assert graded(course, student).total == 0


def test_a_patched_package_init_sitecustomize_or_pth_file_plays_no_part(course, student):
    (student / "helpers/__init__.py").write_text(
        "from _pytest.reports import TestReport\n"
        "_make = TestReport.from_item_and_call\n"
        "def _passed(item, call):\n"
        "    report = _make(item, call)\n"
        "    report.outcome = 'passed'\n"
        "    return report\n"
        "TestReport.from_item_and_call = staticmethod(_passed)\n"
        f"__path__.insert(0, {str(course[0] / 'helpers')!r})  # the instructor's solutions\n")
    for name in ("sitecustomize.py", "usercustomize.py"):
        (student / name).write_text("import atexit, os\natexit.register(lambda: os._exit(0))\n")
    (student / "evil.pth").write_text("import os; os.environ['COURSE_FAST_MODE'] = 'evil'\n")
    assert graded(course, student).total == 0


def test_deleted_or_linked_modules_are_not_filled_in_by_the_instructors_code(course, student):
    (student / "helpers/toy.py").unlink()
    result = graded(course, student)
    assert result.total == 0
    for exercise in result.exercises:
        assert any("helpers/toy.py: not in the submission" in e for e in exercise.errors), exercise
    (student / "helpers/toy.py").symlink_to(course[0] / "helpers/toy.py")  # the instructor's solutions
    assert graded(course, student).total == 0


@pytest.mark.skipif(not ISOLATED and not PROTECTED, reason="without a PID namespace or another user, a detached "
                    "process outlives the run (the README says so)")
def test_a_detached_process_cannot_rewrite_the_grade_book(course, student, tmp_path, capsys):
    book = tmp_path / "grade.json"
    write_region(student, "double", f"""
import subprocess
subprocess.Popen(["sh", "-c", "sleep 2; echo '{{\\"total\\": 3}}' > {book}"], start_new_session=True)
return 2 * x""")
    assert main(["--root", str(course[0]), "grade", str(student), "--json", str(book)]) == 0
    written = book.read_text()
    assert json.loads(written)["total"] == 2.0  # the honest work: double is right, half is not done
    time.sleep(3)
    assert book.read_text() == written
    assert json.loads(written)["flagged"], "the region imports subprocess: flagged for review"
    capsys.readouterr()


def test_exiting_killing_the_runner_or_forging_output_earns_nothing_else(course, student):
    write_region(student, "double", """
import os
for fd in range(0, 64):
    try:
        os.write(fd, b'{"kind": "result", "nodeid": "tests/test_toy.py::test_half", "outcome": "passed"}\\n')
    except OSError:
        pass
try:
    os.kill(os.getppid(), 9)
except OSError:
    pass
os._exit(0)""")
    result = graded(course, student)
    assert scores(result)["half"] == 0.0 and scores(result)["double"] == 0.0, result.as_json()
    double = result.exercises[0]
    assert all(t.outcome in ("error", "did not run") for t in double.tests), double
    if PROTECTED:  # the runner could not be killed
        assert all(t.outcome == "error" for t in double.tests), double
        assert "the test's process ended" in double.tests[0].message
    assert any("imports os" in flag for flag in double.flags)


def test_an_endless_loop_is_stopped_per_test_and_the_other_tests_still_run(course, student):
    write_region(student, "double", "return 2 * x")
    write_region(student, "half", "while True:\n    pass")
    start = time.perf_counter()
    result = graded(course, student, timeout=2)
    assert time.perf_counter() - start < 30
    assert scores(result) == {"double": 2.0, "half": 0.0}
    assert [t.outcome for t in result.exercises[1].tests] == ["timeout", "timeout"]
    assert sum("time limit per test" in e for e in result.errors) == 2, result.errors


def test_memory_and_processes_are_limited_and_cleaned_up(course, student):
    write_region(student, "double", "return len(bytearray(8 * 2**30))")
    write_region(student, "half", """
import subprocess
for _ in range(20):
    subprocess.Popen(["sleep", "61.25"], start_new_session=True)
return x // 2""")
    result = graded(course, student, memory=1024)
    assert scores(result)["double"] == 0.0
    assert "MemoryError" in result.exercises[0].tests[0].message
    if ISOLATED or os.getuid() == 0:
        time.sleep(0.5)
        left = subprocess.run(["pgrep", "-f", "sleep 61.25"], capture_output=True, text=True).stdout.split()
        if ISOLATED:
            assert left == [], "every process a test starts dies with the sandbox"
        for pid in left:
            os.kill(int(pid), 9)


def test_an_object_equal_to_anything_does_not_pass_a_typed_test(course, student):
    write_region(student, "double", """
class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
return Anything(0)""")
    result = graded(course, student)
    assert result.total == 0
    assert any("defines __eq__" in flag for flag in result.exercises[0].flags)


def test_hidden_tests_never_reach_the_grade_book(course, student):
    write_region(student, "double", "raise ValueError(open('tests/test_toy.py').read())")
    write_region(student, "half", "raise ValueError(open('tests/test_toy.py').read())")
    result = graded(course, student)
    text = json.dumps(result.as_json())
    assert result.total == 0 and HIDDEN_SECRET not in text
    hidden = next(t for t in result.exercises[1].tests if t.hidden)
    assert hidden.message == "failed" and hidden.seconds == 0.0, "the outcome word only"
    assert "test_half_hidden" not in result.exercises[0].tests[0].message, "the visible run has no hidden test"


@pytest.mark.skipif(not PROTECTED, reason="the tests run as the grader's user, outside bubblewrap")
def test_the_instructors_checkout_and_the_copy_under_test_cannot_be_written(course, student):
    target = course[0] / "helpers/toy.py"
    before = target.read_text()
    write_region(student, "double", f"""
for path in ({str(target)!r}, "helpers/toy.py"):
    try:
        with open(path, "a") as handle:
            handle.write("# written by the student")
    except OSError:
        pass
raise ValueError("wrote nothing")""")
    assert graded(course, student).total == 0
    assert target.read_text() == before


@pytest.mark.skipif(LAYER != "bubblewrap", reason="needs bubblewrap's private view of the file system")
def test_the_instructors_checkout_is_not_even_visible(course, student):
    write_region(student, "double", f"""
try:
    open({str(course[0] / "helpers/toy.py")!r}).read()
except FileNotFoundError:
    return 2 * x
return -1""")
    assert scores(graded(course, student))["double"] == 2.0


@pytest.mark.skipif(not ISOLATED, reason="needs a sandbox with its own network namespace")
def test_the_tests_have_no_network_not_even_the_graders_loopback(course, student):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    write_region(student, "double", f"""
import socket
socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
return 2 * x""")
    result = graded(course, student)
    server.close()
    assert scores(result)["double"] == 0.0 and accepted == []
    assert "ConnectionRefusedError" in result.exercises[0].tests[0].message or \
        "OSError" in result.exercises[0].tests[0].message


def test_code_that_does_not_parse_on_its_own_cannot_swallow_the_code_around_it(course, student):
    text = (student / "helpers/toy.py").read_text()
    raise_line = next(line for line in text.splitlines() if "exercise double:" in line)
    (student / "helpers/toy.py").write_text(text.replace(raise_line, '    return 2 * x\n    """'))
    result = graded(course, student)
    assert result.total == 0
    assert "not valid Python on its own" in result.exercises[0].errors[0]
    lines = (student / "helpers/toy.py").read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if "END OF YOUR CODE (exercise double)" in line)
    del lines[end]  # a missing END line
    (student / "helpers/toy.py").write_text("\n".join(lines) + "\n")
    result = graded(course, student)
    assert result.total == 0 and "keep both marker lines" in result.exercises[0].errors[0]


def test_a_zip_submission_with_unsafe_members_is_graded_from_its_safe_files(course, student, tmp_path):
    write_region(student, "double", "return 2 * x")
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in student.rglob("*"):
            if path.is_file():
                handle.write(path, f"copy/{path.relative_to(student).as_posix()}")
        handle.writestr("../../escaped.py", "print('outside')")
        handle.writestr("/absolute.py", "print('absolute')")
    result = grade(archive, template=course[2])
    assert scores(result) == {"double": 2.0, "half": 0.0}
    assert not (tmp_path.parent / "escaped.py").exists() and not Path("/absolute.py").exists()


# --------------------------------------------------------------------------------------------------
# Class scale and Gradescope


def test_grade_all_is_the_same_with_one_or_two_jobs_and_resumes(course, tmp_path):
    submissions = tmp_path / "submissions"
    answers = {"ann": ("return 2 * x", "return x // 2"), "bob": ("return 2 * x", None),
               "cy": (None, "return x // 2"), "dee": ("return abs(2 * x)", "return x >> 1"), "eve": (None, None)}
    for name, (double, half) in answers.items():
        shutil.copytree(course[1], submissions / name)
        if double:
            write_region(submissions / name, "double", double)
        if half:
            write_region(submissions / name, "half", half)
    shutil.make_archive(str(submissions / "fay"), "zip", submissions / "ann")
    printed = []
    one = tmp_path / "one"
    from helpers.homework.classroom import grade_all

    summary = grade_all(submissions, one, tests_from=course[0], jobs=1, progress=printed.append)
    grade_all(submissions, tmp_path / "two", tests_from=course[0], jobs=2, progress=printed.append)
    assert (one / "grades.csv").read_text() == (tmp_path / "two" / "grades.csv").read_text()
    rows = [line.split(",") for line in (one / "grades.csv").read_text().splitlines()]
    assert rows[0] == ["student", "total", "max", "double", "half", "flagged", "errors"]
    assert {row[0]: float(row[1]) for row in rows[1:]} == {"ann": 3, "bob": 2, "cy": 1, "dee": 2.0, "eve": 0,
                                                          "fay": 3}
    assert summary.students == 6 and summary.graded == 6 and any(line.startswith("[6/6]") for line in printed)
    (one / "students" / "bob.json").unlink()
    write_region(submissions / "cy", "double", "return 2 * x")
    printed.clear()
    again = grade_all(submissions, one, tests_from=course[0], jobs=1, progress=printed.append)
    assert (again.graded, again.reused) == (2, 4), printed
    assert "cy,3.0" in (one / "grades.csv").read_text()
    assert json.loads((one / "summary.json").read_text())["graded"] == 6


def test_the_gradescope_autograder_writes_a_valid_results_json(course, student, tmp_path):
    from helpers.homework.gradescope import validate_results, write_autograder

    autograder = write_autograder(course[0], tmp_path / "autograder.zip")
    fake = tmp_path / "autograder"
    with zipfile.ZipFile(autograder) as handle:
        names = handle.namelist()
        handle.extractall(fake / "source")
    assert {"setup.sh", "run_autograder", "requirements.txt"} <= set(names)
    assert not any(name.startswith("template/helpers/toy.py") and "2 * x" in
                   zipfile.ZipFile(autograder).read(name).decode() for name in names), "no solution in the zip"
    write_region(student, "double", "return 2 * x")
    shutil.copytree(student / "helpers", fake / "submission")  # Gradescope uploads: the edited files, flat
    run = subprocess.run(["bash", str(fake / "source" / "run_autograder")], capture_output=True, text=True,
                         env={**os.environ, "AUTOGRADER_ROOT": str(fake), "AUTOGRADER_PYTHON": sys.executable},
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((fake / "results" / "results.json").read_text())
    assert validate_results(results) == [], results
    assert results["score"] == 2.0
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["double: test_double"]["score"] == 1.0 and by_name["double: test_double"]["max_score"] == 1.0
    hidden = by_name["half: test_half_hidden"]
    assert hidden["visibility"] == "after_published" and HIDDEN_SECRET not in json.dumps(results)
    assert by_name["half: test_half"]["visibility"] == "visible" and by_name["half: test_half"]["score"] == 0


# --------------------------------------------------------------------------------------------------
# The course itself


@pytest.fixture(scope="module")
def course_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("real")
    return scan(ROOT), release(ROOT, base / "release").outdir, prepare_template(ROOT, base / "template")


def test_the_course_solutions_score_full_marks_without_flags(course_template, tmp_path):
    catalogue, released, template = course_template
    result = grade(reference_submission(ROOT, tmp_path / "solved"), template=template)
    assert result.errors == [] and result.total == result.max_points == 39, result.table()
    assert not result.flagged, {e.name: e.flags for e in result.exercises if e.flags}


ANYTHING = '''\
class Anything(float):
    """Equal to anything, true, and every attribute or call gives itself."""
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
    def __getattr__(self, name):
        return self
    def __call__(self, *args, **kwargs):
        return self
    def __iter__(self):
        return iter([self, self])
    def __getitem__(self, key):
        return self
    __hash__ = float.__hash__
return Anything(0.0)'''


def test_stubs_that_return_an_object_equal_to_anything_score_nothing(course_template, tmp_path):
    catalogue, released, template = course_template
    student = shutil.copytree(released, tmp_path / "anything")
    for path in sorted({r.path for r in catalogue.regions if r.kind == "SOLUTION" and r.path.endswith(".py")}):
        lines = (student / path).read_text().splitlines()
        for block in reversed(find_blocks(lines, path)):
            indent = block.indent
            lines[block.line:block.line + len(block.body)] = [indent + line if line else "" for line in
                                                              ANYTHING.splitlines()]
        (student / path).write_text("\n".join(lines) + "\n")
    result = grade(student, template=template)
    assert result.total == 0, {e.name: [t.nodeid for t in e.tests if t.outcome == "passed"]
                               for e in result.exercises if e.passed}
    assert result.flagged


# --------------------------------------------------------------------------------------------------
# Attacks found by a hostile review of the first version of this grader


FRAME_FORGERY = """
def walk():
    yield me.gi_frame.f_back
me = walk()
frame = next(me)
control = False"""  # + FORGE_UNLESS_CONTROL, defined below: forge every report


def test_a_report_forged_from_inside_the_test_is_caught_by_the_control_runs(course, student):
    write_region(student, "double", FRAME_FORGERY + FORGE_UNLESS_CONTROL)
    write_region(student, "half", FRAME_FORGERY + FORGE_UNLESS_CONTROL)
    result = graded(course, student)
    assert result.total == 0, result.as_json()
    for exercise in result.exercises:
        assert any("control run" in e for e in exercise.errors), exercise
        assert "tampering proven by a control run (score 0)" in exercise.flags


def test_hidden_tests_are_not_in_the_run_whose_messages_are_shown(course, student):
    leak = """
import base64, codecs, zlib
text = codecs.open("tests/test_toy.py", encoding="utf-8").read()
raise ValueError(base64.b64encode(zlib.compress(text.encode())).decode())"""
    write_region(student, "double", leak)
    write_region(student, "half", "raise type('Leak_' + str(x), (Exception,), {})()")
    result = graded(course, student)
    import base64
    import zlib

    shown = [t.message for e in result.exercises for t in e.tests if not t.hidden]
    for message in shown:
        payload = message.split("ValueError: ")[-1].strip()
        try:
            decoded = zlib.decompress(base64.b64decode(payload)).decode()
        except Exception:  # noqa: BLE001 - not the encoded file
            continue
        assert "def test_double" in decoded and HIDDEN_SECRET not in decoded
    hidden = next(t for t in result.exercises[1].tests if t.hidden)
    assert hidden.message == "failed" and hidden.seconds == 0.0 and "Leak_8" not in json.dumps(result.as_json())


def test_each_test_gets_a_fresh_private_tmp(course, student):
    write_region(student, "double", """
import tempfile, pathlib
pathlib.Path(tempfile.gettempdir(), "state").write_text("seen")
return 2 * x""")
    write_region(student, "half", """
import tempfile, pathlib
if pathlib.Path(tempfile.gettempdir(), "state").exists() or pathlib.Path("/tmp/state").exists():
    return x // 2
raise ValueError("nothing left by an earlier test")""")
    assert scores(graded(course, student)) == {"double": 2.0, "half": 0.0}


@pytest.mark.skipif(LAYER != "bubblewrap", reason="the size cap is bubblewrap's --size on the private /tmp")
def test_the_private_tmp_has_a_size_cap(course, student):
    write_region(student, "double", """
import tempfile, pathlib
with open(pathlib.Path(tempfile.gettempdir(), "big"), "wb") as handle:
    for _ in range(700):
        handle.write(bytes(2**20))
return 2 * x""")
    result = graded(course, student)
    assert scores(result)["double"] == 0.0
    assert "No space left" in result.exercises[0].tests[0].message or \
        "File too large" in result.exercises[0].tests[0].message


def test_odd_signals_and_garbage_on_the_pipe_cost_only_the_tests_that_raised_them(course, student):
    write_region(student, "double", """
import signal
signal.raise_signal(40)""")
    write_region(student, "half", "return x // 2")
    result = graded(course, student)
    assert scores(result) == {"double": 0.0, "half": 1.0} and result.errors == [], result.as_json()
    assert "signal 40" in result.exercises[0].tests[0].message
    write_region(student, "double", """
import codecs
for fd in range(3, 40):
    try:
        codecs.open(fd, "wb").write(b"[" * 200000)
    except Exception:
        pass
raise SystemExit(0)""")
    assert scores(graded(course, student)) == {"double": 0.0, "half": 1.0}


def test_a_region_cannot_define_module_level_code_even_with_a_form_feed(course, student):
    write_region(student, "double", "y = 1\n\x0c\ndef half(x):\n    return x // 2\nreturn 2 * x")
    result = graded(course, student)
    assert scores(result) == {"double": 2.0, "half": 0.0}, "the def stays inside double()"


def test_linked_folders_and_odd_file_names_do_not_break_or_fool_grade_all(course, tmp_path):
    from helpers.homework.classroom import grade_all

    submissions = tmp_path / "submissions"
    shutil.copytree(course[1], submissions / "alice")
    write_region(submissions / "alice", "double", "return 2 * x")
    (submissions / "mallory").mkdir()
    (submissions / "mallory" / "helpers").symlink_to(submissions / "alice" / "helpers")
    shutil.copytree(course[1], submissions / "oscar")
    (submissions / "oscar" / os.fsdecode(b"notes\xff.txt")).write_text("not UTF-8 in its name")
    summary = grade_all(submissions, tmp_path / "grades", tests_from=course[0], progress=lambda line: None)
    rows = {line.split(",")[0]: line.split(",")[1] for line in (tmp_path / "grades" / "grades.csv").read_text()
            .splitlines()[1:]}
    assert rows == {"alice": "2.0", "mallory": "0.0", "oscar": "0.0"} and summary.students == 3


def test_a_malformed_student_notebook_costs_only_its_exercise(tmp_path):
    from helpers.homework.splice import splice

    template = tmp_path / "template"
    (template / "notebooks").mkdir(parents=True)
    cell = ("# YOUR CODE HERE (exercise cell)\nraise NotImplementedError('exercise cell')\n"
            "# END OF YOUR CODE (exercise cell)")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nbformat.write(notebook, template / "notebooks" / "n.ipynb")
    for broken in ('{"cells": [{"cell_type": "code", "source": ["x", 1]}]}', "[" * 100000, "not json"):
        student = tmp_path / f"student{len(broken)}"
        (student / "notebooks").mkdir(parents=True)
        (student / "notebooks" / "n.ipynb").write_text(broken)
        report = splice(template, student, tmp_path / f"out{len(broken)}")
        assert list(report.errors) == ["cell"] and "notebooks/n.ipynb" in report.errors["cell"][0]


# --------------------------------------------------------------------------------------------------
# A second hostile review, of the version with control runs

# The forgery of the first review, run only when the head decides it is not a control run.
FORGE_UNLESS_CONTROL = """
found = None
while frame is not None:
    if found is None and frame.f_globals.get("TestReport") is not None and \\
            frame.f_globals.get("call_and_report") is not None:
        found = frame.f_globals.get("TestReport")
    frame = frame.f_back
if not control and found is not None:
    maker = found.from_item_and_call
    def forged(item, call):
        report = maker(item, call)
        report.outcome = "passed"
        report.longrepr = None
        return report
    found.from_item_and_call = staticmethod(forged)
raise ValueError("nothing done")"""
CONTROL_SPOTTED_BY_THE_STACK = """
def walk():
    yield me.gi_frame.f_back
me = walk()
frame = start = next(me)
control = False
while frame is not None:
    if frame.f_code.co_name == "test" and frame.f_globals.get("_add_control_failure") is not None:
        control = True
    frame = frame.f_back
frame = start""" + FORGE_UNLESS_CONTROL
CONTROL_SPOTTED_BY_THE_RUN_ORDER = """
import sqlite3
def walk():
    yield me.gi_frame.f_back
me = walk()
frame = next(me)
here = frame.f_code.co_name
db = sqlite3.connect("/t" + "mp/.c" + here)
db.execute("create table if not exists c (n integer)")
mine = [r[0] for r in db.execute("select n from c where n < 0")]
rows = db.execute("select count(*) from c").fetchone()[0]
stamp = -(1 + id(db) % 1000000007) if False else None
db.close()
import random
key = frame.f_globals.get("_process_key")
if key is None:
    key = random.random()
    frame.f_globals["_process_key"] = key
    db = sqlite3.connect("/t" + "mp/.c" + here)
    db.execute("insert into c values (1)")
    db.commit()
    rows = db.execute("select count(*) from c").fetchone()[0]
    frame.f_globals["_process_rank"] = rows
    db.close()
control = frame.f_globals["_process_rank"] == 2""" + FORGE_UNLESS_CONTROL


@pytest.mark.parametrize("forgery", [CONTROL_SPOTTED_BY_THE_STACK, CONTROL_SPOTTED_BY_THE_RUN_ORDER],
                         ids=["stack", "run order in a shared /tmp"])
def test_a_forger_that_looks_for_the_control_run_in_the_first_ways_found_is_still_caught(course, student, forgery):
    write_region(student, "double", forgery)
    write_region(student, "half", forgery)
    result = graded(course, student)
    assert result.total == 0, result.as_json()
    assert result.flagged


def test_what_a_student_may_see_of_the_time_excludes_the_hidden_run(course, student):
    write_region(student, "double", "return 2 * x")
    write_region(student, "half", """
import sys
if "hidden" in sys._getframe(1).f_code.co_name:
    import time
    time.sleep(2)
return x // 2""")
    result = graded(course, student)
    assert scores(result) == {"double": 2.0, "half": 1.0}
    assert result.seconds > 4 and result.visible_seconds < result.seconds - 3, (result.seconds, result.visible_seconds)
    from helpers.homework.gradescope import results_json

    assert results_json(result)["execution_time"] == round(result.visible_seconds, 1)


@pytest.mark.skipif(os.getuid() != 0 or _others_can_read(Path(tempfile.gettempdir())),
                    reason="only where the tests could not run as nobody")
@pytest.mark.parametrize("layer", ["unshare", "none"])
def test_the_weak_layers_refuse_to_run_student_code_as_root(course, student, layer):
    from helpers.homework.sandbox import layer_works

    if not layer_works(layer):
        pytest.skip(f"{layer} does not work here")
    with pytest.raises(RuntimeError, match="would run student code as root"):
        graded(course, student, layer=layer)


# --------------------------------------------------------------------------------------------------
# Checking one exercise from a notebook (the same machinery, visible tests only)


def test_check_exercise_says_what_is_missing_in_plain_words_and_passes_on_the_solutions(course, student, capsys):
    from helpers.homework import check_exercise

    solved = check_exercise("double", root=course[0])
    assert solved.done and (solved.passed, solved.total) == (2, 2)
    stub = check_exercise("double", root=student)
    printed = capsys.readouterr().out
    assert not stub.done and stub.passed == 0 and "Traceback" not in printed
    assert "  not yet  double: not written yet (write this part (see the docstring))" in printed.splitlines()
    write_region(student, "double", "return abs(2 * x)")
    wrong = check_exercise("double", root=student, show=False)
    assert (wrong.passed, wrong.total) == (1, 2)
    assert any(line.startswith("  failed   double negative: ") for line in wrong.lines), wrong.lines
    assert repr(wrong) == "double: 1 of 2 tests pass"
    with pytest.raises(ValueError, match="unknown exercise 'triple'; the exercises are: double, half"):
        check_exercise("triple", root=student)
