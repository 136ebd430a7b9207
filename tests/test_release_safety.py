"""Homework mode: a release that cannot leak.

A typo'd marker is an error, not a solution shipped in clear; the leak check reads every file of the release
whatever its encoding or type (non-UTF-8 text, archives, binary data, compiled Python) and compares lines
whitespace-normalised; a failed release leaves nothing behind. Small repositories in tmp_path, and one
release of this repository.
"""

import bz2
import gzip
import importlib
import io
import lzma
import py_compile
import re
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.homework import MarkerError, find_leaks, is_student_release, release, scan
from helpers.homework.__main__ import main
from helpers.homework.release import normalise

release_module = importlib.import_module("helpers.homework.release")  # helpers.homework.release is the function
ROOT = Path(__file__).resolve().parent.parent

HELPER = '''\
def double(x):
    """Twice x."""
    # BEGIN SOLUTION exercise=double hint="add x to itself"
    result = sum((x, x), 0)
    return result
    # END SOLUTION
'''
TESTS = '''\
import pytest

from helpers.toy import double


@pytest.mark.exercise("double")
def test_double():
    assert double(2) == 4
'''
LEAK = "result = sum((x, x), 0)"  # the solution line that the leaks below copy
WHERE = r"\(solution of double, helpers/toy\.py:3\)"


def make_repo(root, files):
    """Files of a small repository: text, bytes, or a list of notebook code cells."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, list):
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title")] +
                                                [nbformat.v4.new_code_cell(s) for s in content])
            nbformat.write(notebook, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def toy_repo(root, extra=None):
    return make_repo(root, {"helpers/__init__.py": "", "helpers/toy.py": HELPER, "tests/test_toy.py": TESTS,
                            **(extra or {})})


def left_behind(folder):
    """What a failed release left in ``folder`` (where the release was to go)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------------
# Near-miss markers

# (comment, the marker the error suggests)
NEAR_MISSES = [
    ("# BEGIN SOLUTIONS exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# END SOLUTIONS", "# END SOLUTION"),
    ("# begin solution exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# Begin Solution exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# end solution", "# END SOLUTION"),
    ("# BEGIN_SOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# BEGIN-SOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("#BEGINSOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# BeginSolution exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# END_SOLUTION", "# END SOLUTION"),
    ("# BEGIN SOLUTON exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# BEGIN SOULTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# END SOLUTIN", "# END SOLUTION"),
    ("# BEGN SOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# BEGIN SOLUTIONexercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("### BEGIN SOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("## END SOLUTION", "# END SOLUTION"),
    ("# -- BEGIN SOLUTION -- exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# START SOLUTION exercise=e", "# BEGIN SOLUTION exercise=NAME"),
    ("# STOP SOLUTION", "# END SOLUTION"),
    ("# BEGIN HIDDEN TEST", "# BEGIN HIDDEN TESTS"),
    ("# END HIDDEN TEST", "# END HIDDEN TESTS"),
    ("# begin hidden tests", "# BEGIN HIDDEN TESTS"),
    ("# BEGIN HIDEN TESTS", "# BEGIN HIDDEN TESTS"),
    ("# BEGIN HIDDEN_TESTS", "# BEGIN HIDDEN TESTS"),
    ("# END HIDDEN-TESTS", "# END HIDDEN TESTS"),
    ("# BEGIN HIDDENTESTS", "# BEGIN HIDDEN TESTS"),
    ("#ENDHIDDENTESTS", "# END HIDDEN TESTS"),
    ("# BEGIN HIDDEN  TESTS", "# BEGIN HIDDEN TESTS"),
    ("# START HIDDEN TESTS", "# BEGIN HIDDEN TESTS"),
    ("## END HIDDEN TESTS", "# END HIDDEN TESTS"),
]


def _near_miss_message(place, comment, meant):
    return (rf"^{place}: {re.escape(repr(comment))} looks like a marker but is not one; if it is meant as "
            rf"'{re.escape(meant)}', write exactly that \(a marker is exactly '# BEGIN SOLUTION exercise=NAME")


@pytest.mark.parametrize(("comment", "meant"), NEAR_MISSES, ids=[c for c, _ in NEAR_MISSES])
def test_a_near_miss_marker_in_a_python_file_is_an_error_naming_file_and_line(tmp_path, comment, meant):
    root = make_repo(tmp_path / "solution", {
        "helpers/__init__.py": "", "helpers/a.py": f"def f(x):\n    y = x + 1\n    {comment}\n    return y\n"})
    message = _near_miss_message(r"helpers/a\.py:3", comment, meant)
    with pytest.raises(MarkerError, match=message):
        scan(root)
    with pytest.raises(MarkerError, match=message):
        release(root, tmp_path / "student")
    assert left_behind(tmp_path) == ["solution"]


@pytest.mark.parametrize(("comment", "meant"), NEAR_MISSES, ids=[c for c, _ in NEAR_MISSES])
def test_a_near_miss_marker_in_a_notebook_is_an_error_naming_cell_and_line(tmp_path, comment, meant):
    make_repo(tmp_path, {"notebooks/n.ipynb": ["print('first')", f"x = 1\n{comment}\ny = x + 1"]})
    with pytest.raises(MarkerError, match=_near_miss_message(r"notebooks/n\.ipynb, cell 3, line 2", comment, meant)):
        scan(tmp_path)


def test_a_typod_marker_pair_fails_the_release_with_exit_code_2(tmp_path, capsys):
    """The hostile review's case: with '# BEGIN SOLUTIONS' / '# END SOLUTIONS' the solution shipped in clear."""
    root = toy_repo(tmp_path / "solution")
    (root / "helpers/toy.py").write_text(HELPER.replace("# BEGIN SOLUTION ", "# BEGIN SOLUTIONS ")
                                         .replace("# END SOLUTION", "# END SOLUTIONS"))
    assert main(["--root", str(root), "release", str(tmp_path / "out" / "student")]) == 2
    assert "error: helpers/toy.py:3: '# BEGIN SOLUTIONS exercise=double" in capsys.readouterr().err
    assert left_behind(tmp_path) == ["solution"]


def test_prose_comments_quoted_markers_and_the_release_lines_are_not_errors(tmp_path):
    prose = ["# the solution of the ODE", "# end of the loop", "# Start from the clean images",
             "# begin hidden layer", "# Solution: see the docstring", "# End result: a tensor",
             "# end-to-end solution", "# Stop gradients here", "# start resolution at 1", "# and solutions too",
             "# Beginning of the hidden state", "# YOUR CODE HERE (exercise double)",
             "# END OF YOUR CODE (exercise double)", "#"]
    body = "".join(f"    {line}\n" for line in prose)
    helper = HELPER.replace('    """Twice x."""\n', f'    """Twice x."""\n{body}    text = "# BEGIN SOLUTIONS"\n')
    root = toy_repo(tmp_path, {"helpers/toy.py": helper,
                               "notebooks/n.ipynb": ["\n".join(prose) + "\nmarker = '# end solution'"]})
    catalogue = scan(root)
    assert list(catalogue.exercises) == ["double"] and len(catalogue.regions) == 1
    assert release(root, tmp_path / "student").stubbed_files == ["helpers/toy.py"]


def test_the_repository_has_no_near_miss_marker():
    if is_student_release(ROOT):
        pytest.skip("a student release: its solutions are stubs")
    catalogue = scan(ROOT)  # raises on a near miss
    assert len(catalogue.exercises) >= 20 and all(r.kind in ("SOLUTION", "HIDDEN TESTS") for r in catalogue.regions)


def test_a_python_file_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    root = toy_repo(tmp_path, {"helpers/latin.py": "# caf\u00e9\nX = 1\n".encode("latin-1")})
    with pytest.raises(MarkerError, match=r"^helpers/latin\.py: not UTF-8 .*save it as UTF-8"):
        scan(root)


# --------------------------------------------------------------------------------------------------
# The leak check reads every file


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(members, mode="w"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CODE = f"import math\n{LEAK}\nprint(result)\n"  # the leak on line 2
BLOB = bytes(range(256)) * 4 + b"\x00\x00" + LEAK.encode() + b"\x00\xff\xfe" + bytes(range(256))

# (the file to add to the toy repository, what the error must name)
LEAKS = {
    "latin-1 text": ({"docs/notes.txt": f"Caf\u00e9 cr\u00e8me\n\n    {LEAK}\n".encode("latin-1")},
                     rf"docs/notes\.txt:3: '{re.escape(LEAK)}' {WHERE}"),
    "utf-16 text with BOM": ({"docs/notes.txt": f"\u00e9t\u00e9\n{LEAK}\n".encode("utf-16")},
                             rf"docs/notes\.txt:2: '{re.escape(LEAK)}'"),
    "utf-16 text without BOM": ({"docs/notes.txt": f"x\n{LEAK}\n".encode("utf-16-le")},
                                r"docs/notes\.txt: binary data holds the solution line 'result=sum\(\(x,x\),0\)'"),
    "zip": ({"data/archive.zip": _zip({"inner/": b"", "inner/path.py": CODE.encode()})},
            r"data/archive\.zip!inner/path\.py:2: "),
    "wheel (a zip)": ({"dist/toy-0.1-py3-none-any.whl": _zip({"toy/core.py": CODE.encode()})},
                      r"dist/toy-0\.1-py3-none-any\.whl!toy/core\.py:2: "),
    "tar.gz": ({"data/bundle.tar.gz": _tar({"pkg/mod.py": CODE.encode()}, "w:gz")},
               r"data/bundle\.tar\.gz!pkg/mod\.py:2: "),
    "tar.bz2": ({"data/bundle.tbz": _tar({"pkg/mod.py": CODE.encode()}, "w:bz2")}, r"data/bundle\.tbz!pkg/mod\.py:2: "),
    "tar.xz": ({"data/bundle.tar.xz": _tar({"pkg/mod.py": CODE.encode()}, "w:xz")},
               r"data/bundle\.tar\.xz!pkg/mod\.py:2: "),
    "zip in a tar": ({"data/outer.tar": _tar({"a/inner.zip": _zip({"deep/x.py": CODE.encode()})})},
                     r"data/outer\.tar!a/inner\.zip!deep/x\.py:2: "),
    "zip in a zip in a tar.gz": (
        {"data/o.tgz": _tar({"m.zip": _zip({"n.zip": _zip({"x.py": CODE.encode()})})}, "w:gz")},
        r"data/o\.tgz!m\.zip!n\.zip!x\.py:2: "),
    "gzip": ({"data/notes.txt.gz": gzip.compress(CODE.encode())}, r"data/notes\.txt\.gz!notes\.txt:2: "),
    "bz2": ({"data/notes.txt.bz2": bz2.compress(CODE.encode())}, r"data/notes\.txt\.bz2!notes\.txt:2: "),
    "xz": ({"data/notes.txt.xz": lzma.compress(CODE.encode())}, r"data/notes\.txt\.xz!notes\.txt:2: "),
    "renamed zip": ({"data/model.bin": _zip({"weights/code.py": CODE.encode()})},
                    r"data/model\.bin!weights/code\.py:2: "),
    "binary blob": ({"data/blob.bin": BLOB},
                    rf"data/blob\.bin: binary data holds the solution line 'result=sum\(\(x,x\),0\)' {WHERE}"),
    "differently spaced": (
        {"helpers/other.py": "def g(x):\n    result=sum( (x,x) ,0 )   # the same\n    return result\n"},
        r"helpers/other\.py:2: 'result=sum\( \(x,x\) ,0 \)   # the same'"),
    "commented out": ({"docs/example.py": f"X = 1\n# {LEAK}\n"}, rf"docs/example\.py:2: '# {re.escape(LEAK)}'"),
    "doctest": ({"docs/example.py": f'"""\n>>> {LEAK}\n"""\n'}, rf"docs/example\.py:2: '>>> {re.escape(LEAK)}'"),
    "inside a longer line": ({"docs/example.py": f"x = 2; {LEAK}; print(result)\n"},
                             r"docs/example\.py:1: the solution line 'result=sum\(\(x,x\),0\)' is written here "
                             r"inside a longer line"),
    "over several lines": ({"docs/example.py": "X = 1\nresult = sum(\n    (x, x),\n    0)\n"},
                           r"docs/example\.py:2: the solution line 'result=sum\(\(x,x\),0\)' is written here"),
    "notebook cell": ({"notebooks/n.ipynb": ["x = 1", f"y = 2\n{LEAK}"]}, r"notebooks/n\.ipynb, cell 3, line 2: "),
}


def test_the_toy_repository_without_a_leak_releases(tmp_path):
    """The control for the leaks below: each of them is the only reason its release fails."""
    files = {"docs/notes.txt": "Caf\u00e9\n".encode("latin-1"), "data/a.zip": _zip({"x.py": b"y = 1\n"}),
             "data/b.tar.gz": _tar({"x.py": b"y = 1\n"}, "w:gz"), "data/blob.bin": bytes(range(256)) * 8,
             "data/c.txt.gz": gzip.compress(b"y = 1\n"), "docs/example.py": "result = sum((y, y), 1)\n"}
    out = release(toy_repo(tmp_path / "solution", files), tmp_path / "student").outdir
    assert (out / "data/b.tar.gz").read_bytes() == files["data/b.tar.gz"]
    assert LEAK not in (out / "helpers/toy.py").read_text()


@pytest.mark.parametrize("case", LEAKS, ids=list(LEAKS))
def test_a_leak_is_found_whatever_the_file(tmp_path, case):
    files, place = LEAKS[case]
    root = toy_repo(tmp_path / "solution", files)
    with pytest.raises(MarkerError, match=r"^solution lines appear in the release(.|\n)*\n  " + place):
        release(root, tmp_path / "student")
    assert left_behind(tmp_path) == ["solution"]


def test_whitespace_is_normalised_but_words_stay_apart():
    assert normalise("    x = a  +  b  # sum") == normalise("x=a+b") == "x=a+b"
    assert normalise("return x") == "return x" != normalise("returnx")
    assert normalise("y = f(a,\tb)") == normalise("y=f( a , b )")


COMPILED = {
    ".pyc file": ("helpers/old.pyc", r"helpers/old\.pyc: compiled Python in the release"),
    "renamed .pyc": ("data/model.bin", r"data/model\.bin: compiled Python in the release"),
    ".pyc in a zip": ("data/lib.zip", r"data/lib\.zip!__pycache__/toy\.cpython-3\.pyc: compiled Python in the release"),
}


@pytest.mark.parametrize("case", COMPILED, ids=list(COMPILED))
def test_compiled_python_in_the_repository_is_an_error(tmp_path, case):
    name, message = COMPILED[case]
    root = toy_repo(tmp_path / "solution")
    compiled = Path(py_compile.compile(str(root / "helpers/toy.py"), cfile=str(tmp_path / "toy.pyc"))).read_bytes()
    content = _zip({"__pycache__/toy.cpython-3.pyc": compiled}) if name.endswith(".zip") else compiled
    make_repo(root, {name: content})
    message += r": a compiled solution cannot be checked line by line; delete the file, or keep it out of git"
    with pytest.raises(MarkerError, match=message + r" \(ignore __pycache__/ and \*\.pyc"):
        release(root, tmp_path / "student")
    assert left_behind(tmp_path) == ["solution", "toy.pyc"]


def test_an_archive_too_deep_or_unreadable_is_an_error(tmp_path, monkeypatch):
    nested = b"y = 1\n"
    for level in range(7):
        nested = _zip({f"level{level}.zip" if level else "x.py": nested})
    root = toy_repo(tmp_path / "solution", {"data/deep.zip": nested, "data/x.7z": b"7z\xbc\xaf\x27\x1c" + bytes(40),
                                            "data/big.gz": gzip.compress(bytes(3000))})
    monkeypatch.setattr(release_module, "LARGEST_CHECKED", 2000)
    with pytest.raises(MarkerError) as error:
        release(root, tmp_path / "student")
    message = str(error.value)
    assert re.search(r"\n  data/big\.gz: more than 2000 bytes \(decompressed\): too large to check", message), message
    assert re.search(r"\n  data/deep\.zip(!level\d\.zip){5}: archives nested more than 5 deep", message), message
    assert re.search(r"\n  data/x\.7z: a 7z archive, which the leak check cannot open", message), message


# --------------------------------------------------------------------------------------------------
# A failed release leaves nothing behind


def test_a_failed_release_leaves_no_folder_and_no_temporary_sibling(tmp_path):
    root = toy_repo(tmp_path / "solution", {"docs/notes.txt": f"{LEAK}\n"})
    with pytest.raises(MarkerError, match=r"nothing was written to .*student\)"):
        release(root, tmp_path / "out" / "deeper" / "student")
    assert left_behind(tmp_path) == ["solution"]  # not even the parents it would have created


def test_a_failed_release_leaves_an_existing_empty_folder_as_it_was(tmp_path):
    root = toy_repo(tmp_path / "solution", {"docs/notes.txt": f"{LEAK}\n"})
    (tmp_path / "student").mkdir()
    with pytest.raises(MarkerError, match="solution lines appear in the release"):
        release(root, tmp_path / "student")
    assert left_behind(tmp_path) == ["solution", "student"] and left_behind(tmp_path / "student") == []
    (root / "docs/notes.txt").unlink()
    out = release(root, tmp_path / "student").outdir
    assert out == (tmp_path / "student").resolve() and (out / "helpers/toy.py").is_file()
    assert left_behind(tmp_path) == ["solution", "student"]


def test_an_exception_during_the_release_leaves_nothing(tmp_path, monkeypatch):
    root = toy_repo(tmp_path / "solution")

    def broken(catalogue, outdir):
        assert (outdir / "helpers/toy.py").is_file() and outdir.name.startswith(".student.partial-")
        raise RuntimeError("disk full")

    monkeypatch.setattr(release_module, "find_leaks", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        release(root, tmp_path / "student")
    assert left_behind(tmp_path) == ["solution"]


def test_the_error_names_the_first_20_leaks_by_file_and_line(tmp_path):
    root = toy_repo(tmp_path / "solution", {f"docs/copy{i:02d}.py": f"X = {i}\n{LEAK}\n" for i in range(25)})
    with pytest.raises(MarkerError) as error:
        release(root, tmp_path / "student")
    lines = str(error.value).split("\n")
    assert lines[1:21] == [f"  docs/copy{i:02d}.py:2: '{LEAK}' (solution of double, helpers/toy.py:3)"
                           for i in range(20)]
    assert lines[21:] == ["  ... and 5 more"]


# --------------------------------------------------------------------------------------------------
# This repository (its release is also checked, in more ways, by test_homework.py)


def test_the_repository_releases_with_no_leak_and_nothing_left_beside(tmp_path):
    if is_student_release(ROOT):
        pytest.skip("a student release: its solutions are stubs")
    result = release(ROOT, tmp_path / "student")
    assert left_behind(tmp_path) == ["student"]
    assert find_leaks(result.catalogue, result.outdir) == []
