"""Building the copy that is graded: the instructor's pristine release, with the student's code spliced in.

The grade uses nothing of a student's submission but the lines between ``# YOUR CODE HERE (exercise NAME)``
and ``# END OF YOUR CODE (exercise NAME)`` (see :mod:`helpers.homework.release`). Every other file, and
every line around the regions, comes from the pristine template, so a student's ``pytest.ini``,
``conftest.py``, ``sitecustomize.py``, ``.pth`` file, plugin, extra module or edited ``__init__.py`` takes
no part. A region that cannot be used (file missing, markers missing or unbalanced, code that does not
parse, too long) keeps the stub, and its exercise scores 0 with the reason.

In the graded copy the ``# YOUR CODE HERE`` line becomes a guard (same line, so line numbers stay): it stops
the grading run if exercise code runs while the tests are being collected, where it could tamper with
the process that reports the outcomes (see :mod:`helpers.homework._runner`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .markers import cell_source
from .release import END_OF_YOUR_CODE, YOUR_CODE_HERE

BEGIN = re.compile(rf"^(?P<indent>[ \t]*){re.escape(YOUR_CODE_HERE)} \(exercise (?P<name>[a-z0-9][a-z0-9_.-]*)\)\s*$")
END = re.compile(rf"^(?P<indent>[ \t]*){re.escape(END_OF_YOUR_CODE)} \(exercise (?P<name>[a-z0-9][a-z0-9_.-]*)\)\s*$")
MAX_LINES, MAX_CHARS = 400, 40_000  # per region: far above any solution, far below a pasted library
MAX_FILE_BYTES = 5_000_000
COLLECTING = "HOMEWORK_COLLECTING"
GUARD = (f'__import__("os").environ.get("{COLLECTING}") and __import__("os")._exit(70)'
         "  # {marker}")  # the runner sees exit code 70 and stops: exercise code ran at collection


class SpliceError(ValueError):
    """A region of the submission cannot be used; the message says where and how to fix it."""


@dataclass
class Block:
    exercise: str
    occurrence: int  # 0 for the first region of this exercise in the file, 1 for the second, ...
    line: int  # 1-based line of the BEGIN marker (in a notebook: in the cell's source)
    indent: str
    body: list[str]
    cell: int | None = None


@dataclass
class SpliceReport:
    """What the splice found in a submission: per exercise, the reasons it could not use a region, and
    the static findings that an instructor should look at (they do not change the score)."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Finding regions


def find_blocks(lines: list[str], where: str, cell: int | None = None,
                problems: dict[str, str] | None = None) -> list[Block]:
    """The regions between BEGIN and END marker lines. A marker that does not pair up raises
    :class:`SpliceError`, or, when ``problems`` is given, is recorded there (exercise -> message) and the
    well-formed regions around it are still returned."""
    blocks, open_block, seen = [], None, {}

    def problem(exercise: str, message: str) -> None:
        if problems is None:
            raise SpliceError(message)
        problems.setdefault(exercise, message)

    for number, line in enumerate(lines, 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_block is not None:
                problem(open_block.exercise, f"{where}, line {open_block.line}: the region of exercise "
                        f"{open_block.exercise} has no '{END_OF_YOUR_CODE} (exercise {open_block.exercise})' "
                        f"line before line {number}; keep both marker lines around your code")
            occurrence = seen.get(begin["name"], 0)
            seen[begin["name"]] = occurrence + 1
            open_block = Block(begin["name"], occurrence, number, begin["indent"], [], cell)
        elif end:
            if open_block is None or end["name"] != open_block.exercise:
                problem(end["name"], f"{where}, line {number}: '{END_OF_YOUR_CODE} (exercise {end['name']})' "
                        f"without its '{YOUR_CODE_HERE} (exercise {end['name']})' line above; keep both marker "
                        "lines around your code")
                open_block = None
                continue
            blocks.append(open_block)
            open_block = None
        elif open_block is not None:
            open_block.body.append(line)
    if open_block is not None:
        problem(open_block.exercise, f"{where}, line {open_block.line}: '{YOUR_CODE_HERE} (exercise "
                f"{open_block.exercise})' has no '{END_OF_YOUR_CODE} (exercise {open_block.exercise})' line "
                "after it; keep both marker lines around your code")
    if problems:
        blocks = [b for b in blocks if b.exercise not in problems]
    return blocks


def _cells(text: str, where: str) -> list[tuple[int, list[str]]]:
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpliceError(f"{where}: not a valid notebook ({error.msg}, line {error.lineno})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise SpliceError(f"{where}: not a notebook (no list of cells)")
    found = []
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(part, str) for part in source):
                source = "".join(source)
            elif not isinstance(source, str):
                raise SpliceError(f"{where}, cell {index + 1}: the cell's source is not text; save the notebook "
                                  "with Jupyter")
            found.append((index, source.splitlines()))
    return found


def _number_over_notebook(blocks: list[Block], counts: dict[str, int]) -> list[Block]:
    """Number each block's occurrence over a whole notebook; ``counts`` carries the cells before."""
    for block in blocks:
        block.occurrence = counts.get(block.exercise, 0)
        counts[block.exercise] = block.occurrence + 1
    return blocks


def blocks_of_file(path: Path, relative: str, problems: dict[str, str]) -> dict[tuple[str, int], Block]:
    """Every well-formed region of a submitted file, keyed by (exercise, occurrence in the file); the
    exercises whose markers do not pair up go to ``problems``."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SpliceError(f"{relative}: larger than {MAX_FILE_BYTES // 1_000_000} MB; submit the course's file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SpliceError(f"{relative}: not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    blocks: list[Block] = []
    if relative.endswith(".ipynb"):
        counts: dict[str, int] = {}
        for index, lines in _cells(text, relative):
            blocks += _number_over_notebook(find_blocks(lines, f"{relative}, cell {index + 1}", index, problems),
                                            counts)
    else:
        blocks = find_blocks(text.splitlines(), relative, None, problems)
    return {(b.exercise, b.occurrence): b for b in blocks}


def _no_link_on_the_way(student: Path, path: Path) -> bool:
    """True if neither ``path`` nor a folder between ``student`` and it is a symbolic link."""
    relative = path.relative_to(student)
    current = student
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return False
    return True


def locate(student: Path, relative: str) -> Path | None:
    """The student's version of ``relative``: at the same place, or else the only file of that name anywhere
    in the submission (for uploads that flatten folders). Never follows a link, to a file or a folder."""
    candidate = student / relative
    if candidate.is_file() and _no_link_on_the_way(student, candidate):
        return candidate
    name, found = Path(relative).name, []
    for folder, subfolders, files in os.walk(student, followlinks=False):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "__pycache__"]
        if name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found[0] if len(found) == 1 else None


# --------------------------------------------------------------------------------------------------
# Checking and re-indenting one region


def prepare(block: Block, indent: str, where: str) -> list[str]:
    """The block's lines re-indented to ``indent``; raises :class:`SpliceError` if it is too long or does not
    parse as whole statements on its own (so it cannot swallow the code around it)."""
    text = "\n".join(block.body)
    if len(block.body) > MAX_LINES or len(text) > MAX_CHARS:
        raise SpliceError(f"{where}: exercise {block.exercise}: {len(block.body)} lines, {len(text)} characters "
                          f"between the markers (at most {MAX_LINES} lines, {MAX_CHARS} characters)")
    if any(line.startswith("\t") for line in block.body) and any(line.startswith(" ") for line in block.body):
        raise SpliceError(f"{where}: exercise {block.exercise}: mixes tabs and spaces in indentation; use spaces")
    body = textwrap.dedent(text).splitlines()
    if not any(line.strip() and not line.strip().startswith("#") for line in body):
        body.append(f'raise NotImplementedError("exercise {block.exercise}: no code between the marker lines")')
    try:
        ast.parse("def _region():\n" + textwrap.indent("\n".join(body), "    ", lambda line: True))
    except SyntaxError as error:
        line = block.line + (error.lineno or 1) - 1
        raise SpliceError(f"{where}, line {line}: exercise {block.exercise}: the code between the markers is not "
                          f"valid Python on its own ({error.msg})") from None
    return [indent + line if line.strip() else "" for line in body]


# --------------------------------------------------------------------------------------------------
# Static tamper evidence: code that reaches for the grading machinery


SUSPECT_MODULES = {
    "os", "sys", "builtins", "gc", "inspect", "ctypes", "importlib", "subprocess", "signal", "socket", "pytest",
    "_pytest", "pluggy", "threading", "multiprocessing", "atexit", "shutil", "pathlib", "io", "tempfile",
    "pickle", "marshal", "types", "code", "runpy", "faulthandler", "resource", "mmap", "fcntl", "pty", "glob",
    "unittest", "traceback", "site", "sysconfig", "zipimport", "pkgutil", "weakref", "asyncio", "select",
    "http", "urllib", "requests", "helpers.homework", "_thread", "posix", "dis", "linecache", "tokenize",
    "codecs", "sqlite3", "filecmp", "shelve", "dbm", "zipfile", "tarfile", "fileinput", "operator", "base64",
    "zlib", "secrets", "random", "time", "_io", "_imp", "_frozen_importlib",
}
FRAME_ATTRIBUTES = {"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back", "f_globals", "f_locals", "f_code",
                    "f_builtins", "gi_code", "co_filename", "co_consts", "co_names", "co_varnames", "tb_next",
                    "_getframe", "currentframe", "__traceback__"}
SUSPECT_CALLS = {"eval", "exec", "compile", "__import__", "open", "globals", "locals", "vars", "breakpoint",
                 "exit", "quit", "input", "setattr", "delattr", "getattr", "memoryview", "help"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__", "__len__", "__iter__", "__next__", "__repr__", "__str__",
                   "__call__", "__enter__", "__exit__", "__getitem__", "__setitem__", "__contains__"}
SUSPECT_TEXT = re.compile(r"/proc|/dev/|/tmp|tests/|conftest|\.py\b|\.json\b|homework|grad(?:e|ing)|pytest",
                          re.IGNORECASE)


def tamper_findings(body: list[str], first_line: int, module_names: set[str]) -> list[str]:
    """Lines of the region that reach for the grading machinery: imports of system modules, ``eval``/``open``
    and friends, dunder attributes, re-binding a library function (``torch.allclose = ...``), ``global``,
    defining comparison methods, and strings naming grader files. ``module_names`` are the names the
    surrounding file binds to modules (``torch``, ``F``, ``np``)."""
    text = textwrap.dedent("\n".join(body))
    try:
        tree = ast.parse("def _region():\n" + textwrap.indent(text, "    ", lambda line: True))
    except SyntaxError:
        return []
    found = []

    def note(node, what):
        found.append(f"line {first_line + node.lineno - 1}: {what}")

    def root_name(node):
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            node = node.value if not isinstance(node, ast.Call) else node.func
        return node.id if isinstance(node, ast.Name) else None

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in SUSPECT_MODULES):
                    note(node, f"imports {name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SUSPECT_CALLS:
            note(node, f"calls {node.func.id}()")
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__loader__", "__spec__", "__file__"):
            note(node, f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
            note(node, f"uses the attribute {node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in ("_exit", "modules", "settrace", "setprofile"):
            note(node, f"uses .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRIBUTES:
            note(node, f"reaches for the interpreter's frames or code (.{node.attr})")
        elif isinstance(node, (ast.Yield, ast.YieldFrom)):
            note(node, "yields: the function becomes a generator (and its frame is reachable)")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            note(node, f"{type(node).__name__.lower()} {', '.join(node.names)}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("__") \
                and node.name not in ALLOWED_DUNDERS and node.name != "_region":
            note(node, f"defines {node.name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SUSPECT_TEXT.search(node.value):
            note(node, f"a string naming a file or the grader: {node.value[:40]!r}")
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and root_name(part) in module_names:
                    note(node, f"re-binds {ast.unparse(part)}, a name of a library module")
    return sorted(set(found), key=lambda s: int(s.split(":")[0].split()[1]))


def module_aliases(text: str) -> set[str]:
    """Names a Python file binds to modules at its top level (``import torch.nn.functional as F`` gives F)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}  # may be functions too: re-binding them is as bad
    return names


# --------------------------------------------------------------------------------------------------
# Splicing a submission into a copy of the template


def _template_files(template: Path) -> list[str]:
    files = []
    for path in sorted(template.rglob("*")):
        if path.suffix in (".py", ".ipynb") and path.is_file():
            relative = path.relative_to(template).as_posix()
            if relative.split("/")[0] != "tests":
                files.append(relative)
    return files


def _copy_tree(template: Path, target: Path) -> None:
    """A copy of ``template`` made of hard links where possible (fast; the files are replaced, never
    written in place, when spliced)."""
    def link(source, destination):
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)
    shutil.copytree(template, target, copy_function=link, symlinks=False)


def _replace(lines: list[str], blocks: list[Block], replacement) -> list[str]:
    out, position = [], 0
    for block in blocks:
        out.extend(lines[position:block.line - 1])
        out.extend(replacement(block))
        position = block.line + len(block.body) + 1  # past the END line
    out.extend(lines[position:])
    return out


def _splice_lines(lines: list[str], template_blocks: list[Block], theirs: dict, where: str, relative: str,
                  report: SpliceReport, aliases: set[str], problem: str | None, broken: dict[str, str]
                  ) -> list[str]:
    def replacement(block: Block) -> list[str]:
        guard = block.indent + GUARD.format(marker=f"{YOUR_CODE_HERE} (exercise {block.exercise})")
        end = f"{block.indent}{END_OF_YOUR_CODE} (exercise {block.exercise})"
        key = (block.exercise, block.occurrence)
        reason = problem or broken.get(block.exercise)
        if reason is None and key not in theirs:
            reason = (f"{relative}: no '{YOUR_CODE_HERE} (exercise {block.exercise})' region "
                      f"{'(the ' + str(block.occurrence + 1) + '. one) ' if block.occurrence else ''}found; "
                      "write your code between the two marker lines of the release")
        if reason is None:
            student_block = theirs[key]
            try:
                body = prepare(student_block, block.indent, where if student_block.cell is None
                               else f"{relative}, cell {student_block.cell + 1}")
            except SpliceError as error:
                reason = str(error)
            else:
                flags = tamper_findings(student_block.body, student_block.line + 1, aliases)
                if flags:
                    place = relative if student_block.cell is None else f"{relative}, cell {student_block.cell + 1}"
                    report.flags.setdefault(block.exercise, []).extend(f"{place}, {f}" for f in flags)
                return [guard, *body, end]
        report.errors.setdefault(block.exercise, []).append(reason)
        return [guard, *block.body, end]  # the template's stub

    return _replace(lines, template_blocks, replacement)


def splice(template: Path | str, student: Path | str, target: Path | str) -> SpliceReport:
    """Write to ``target`` a copy of ``template`` (a release: the pristine student files, with the grading
    tests) in which each region between the marker lines holds the student's code from ``student``.

    ``target`` must not exist. Returns a :class:`SpliceReport`; the regions it could not use keep the stub.
    """
    template, student, target = Path(template), Path(student), Path(target)
    _copy_tree(template, target)
    report = SpliceReport()
    for relative in _template_files(template):
        text = (template / relative).read_text(encoding="utf-8")
        if YOUR_CODE_HERE not in text:
            continue
        theirs: dict = {}
        problem, broken = None, {}
        found = locate(student, relative)
        if found is None:
            problem = f"{relative}: not in the submission (submit it with your code between the marker lines)"
        else:
            try:
                theirs = blocks_of_file(found, relative, broken)
            except SpliceError as error:
                problem = str(error)
            except (ValueError, TypeError, AttributeError, RecursionError, MemoryError, OSError) as error:
                problem = f"{relative}: cannot be read ({type(error).__name__}); submit the course's file"
        if relative.endswith(".ipynb"):
            notebook, counts = json.loads(text), {}
            for index, cell in enumerate(notebook["cells"]):
                source = cell_source(cell)
                if cell.get("cell_type") != "code" or YOUR_CODE_HERE not in source:
                    continue
                lines = source.splitlines()
                mine = _number_over_notebook(find_blocks(lines, f"{relative}, cell {index + 1}", index), counts)
                new = _splice_lines(lines, mine, theirs, f"{relative}, cell {index + 1}", relative, report,
                                    set(), problem, broken)
                cell["source"] = "\n".join(new)
            content = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        else:
            mine = find_blocks(text.splitlines(), relative)
            aliases = module_aliases(text)
            content = "\n".join(_splice_lines(text.splitlines(), mine, theirs, relative, relative, report, aliases,
                                              problem, broken)) + "\n"
            try:
                compile(content, relative, "exec", dont_inherit=True)
            except SyntaxError as error:  # e.g. `nonlocal` without a binding: keep the stubs of this file
                names = sorted({b.exercise for b in mine})
                for name in names:
                    report.errors.setdefault(name, []).append(
                        f"{relative}, line {error.lineno}: with your code the file does not compile ({error.msg})")
                content = text
        (target / relative).unlink()
        (target / relative).write_text(content, encoding="utf-8")
    return report
