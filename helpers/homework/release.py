"""Writing the student release: solutions stubbed, hidden tests removed, notebook outputs cleared."""

from __future__ import annotations

import ast
import bz2
import codecs
import gzip
import io
import json
import lzma
import os
import re
import shutil
import tarfile
import zipfile
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import nbformat

from .markers import Catalogue, MarkerError, Region, cell_source, repository_files, scan

MANIFEST = "homework.json"
STUDENT_SHEET = "HOMEWORK.md"
# The lines around a stub in the release. A student writes between them; the grader takes exactly the
# lines between them (see splice.py), so they must stay.
YOUR_CODE_HERE = "# YOUR CODE HERE"
END_OF_YOUR_CODE = "# END OF YOUR CODE"


def begin_line(exercise: str) -> str:
    return f"{YOUR_CODE_HERE} (exercise {exercise})"


def end_line(exercise: str) -> str:
    return f"{END_OF_YOUR_CODE} (exercise {exercise})"


def stub_lines(region: Region) -> list[str]:
    """What replaces a solution region in the release: the student's writing space, between two marker lines."""
    return [f"{region.indent}{begin_line(region.exercise)}", _raise_line(region),
            f"{region.indent}{end_line(region.exercise)}"]


# The leak check skips the solution lines this short (counted without indentation and trailing comment, each run
# of spaces as one, see leak_length()): at 20 characters a line is shared vocabulary (`delta = x_adv - x`,
# `if norm == "linf":`, `generator=generator)`), not a solution.
SHORTEST_LEAK = 21


@dataclass
class Release:
    outdir: Path
    catalogue: Catalogue
    files: int
    stubbed_files: list[str]


def stub_message(region: Region) -> str:
    return f"exercise {region.exercise}: {region.hint or 'write this part (see the docstring)'}"


def _raise_line(region: Region) -> str:
    # json.dumps writes a valid Python string literal (double quotes, escapes).
    return f"{region.indent}raise NotImplementedError({json.dumps(stub_message(region), ensure_ascii=False)})"


def _replace(lines: list[str], regions: list[Region], stub) -> list[str]:
    """``lines`` with each region (marker lines included) replaced by ``stub(region)`` (a list of lines)."""
    result, position = [], 0
    for region in sorted(regions, key=lambda r: r.begin):
        result.extend(lines[position:region.begin - 1])
        replacement = stub(region)
        result.extend(replacement)
        position = region.end
        if not replacement and len(result) >= 2 and not result[-1].strip() and not result[-2].strip():
            while position < len(lines) and not lines[position].strip():  # no third blank line in a row
                position += 1
    result.extend(lines[position:])
    return result


def release_python(text: str, regions: list[Region], path: str) -> str:
    """Solutions become ``raise NotImplementedError("exercise NAME: hint")`` between the lines
    ``# YOUR CODE HERE (exercise NAME)`` and ``# END OF YOUR CODE (exercise NAME)``; hidden tests disappear."""
    lines = text.splitlines()
    new = _replace(lines, regions, lambda r: stub_lines(r) if r.kind == "SOLUTION" else [])
    released = "\n".join(new) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(released)
    except SyntaxError as error:
        first = min(regions, key=lambda r: r.begin)
        raise MarkerError(f"{first.where}: without its marked regions {path} is no longer valid Python "
                          f"(line {error.lineno}: {error.msg}); a hidden-tests region must hold whole tests, "
                          "decorators included") from None
    return released


def release_notebook(notebook: nbformat.NotebookNode, regions: list[Region]) -> nbformat.NotebookNode:
    """Solutions become a ``raise`` between ``# YOUR CODE HERE`` and ``# END OF YOUR CODE`` lines; every output
    and execution count is cleared."""
    by_cell: dict[int, list[Region]] = {}
    for region in regions:
        by_cell.setdefault(region.cell, []).append(region)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        if index in by_cell:
            lines = cell_source(cell).splitlines()
            cell.source = "\n".join(_replace(lines, by_cell[index], stub_lines))
            cell.metadata["homework"] = {"exercises": sorted({r.exercise for r in by_cell[index]})}
    notebook.metadata.pop("widgets", None)  # saved widget state belongs to the cleared outputs
    return notebook


# --------------------------------------------------------------------------------------------------
# The leak check: no line of a solution anywhere in the release, whatever the file's encoding or type

_TRAILING_COMMENT = re.compile(r"\s#")
_SPACES_BETWEEN_WORDS = re.compile(r"(?<=\w)\s+(?=\w)")
_OTHER_SPACES = re.compile(r"(?<!\w)\s+|\s+(?!\w)")
_PROMPT = re.compile(r"^(?:\s*(?:#+|>>>|\.\.\.))+")  # a commented-out line, a doctest line
_WHITESPACE = re.compile(r"\s+")
# Every file of a release is read whole; so is each file inside an archive (zip and its kin, tar, gzip, bzip2,
# xz), down to this depth. A file or member larger than this, or archives nested deeper, cannot be checked:
# an error. An archive's members together may not decompress to more than LARGEST_ARCHIVE.
LARGEST_CHECKED = 50 * 2**20
LARGEST_ARCHIVE = 200 * 2**20
DEEPEST_ARCHIVE = 5
COMPILED_SUFFIXES = (".pyc", ".pyo")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def normalise(line: str) -> str:
    """A line as the leak check compares it: without its indentation and its trailing ``# comment``, the
    whitespace between two word characters made one space and every other whitespace removed, so that
    ``x = a  +  b`` and ``x=a+b`` are the same line (and ``return x`` is not ``returnx``)."""
    line = _TRAILING_COMMENT.split(line.strip(), maxsplit=1)[0]
    return _OTHER_SPACES.sub("", _SPACES_BETWEEN_WORDS.sub(" ", line))


def leak_length(line: str) -> int:
    """How long a solution line counts for ``SHORTEST_LEAK``: without indentation and trailing comment, each
    run of whitespace one space. (The normalised form would count ``x = a + b`` shorter than its words make
    it: ``result = sum((x, x), 0)`` is a solution line, ``generator=generator)`` vocabulary.)"""
    return len(" ".join(_TRAILING_COMMENT.split(line.strip(), maxsplit=1)[0].split()))


def _squeeze(text: str) -> str:
    """Text without any whitespace: how a solution line is looked for inside binary data."""
    return _WHITESPACE.sub("", text)


def solution_lines(catalogue: Catalogue) -> dict[str, Region]:
    """Each line of every solution body that the leak check looks for, normalised (see :func:`normalise`;
    comments and lines shorter than ``SHORTEST_LEAK``, see :func:`leak_length`, left out), with the first
    region that holds it."""
    lines: dict[str, Region] = {}
    for region in catalogue.regions:
        if region.kind == "SOLUTION":
            for raw in region.body:
                if leak_length(raw) >= SHORTEST_LEAK and not raw.lstrip().startswith("#"):
                    lines.setdefault(normalise(raw), region)
    return lines


def _split_lines(text: str) -> list[str]:
    """Lines as an editor numbers them (``str.splitlines`` also splits at form feeds and other controls)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def decodings(data: bytes) -> list[str]:
    """The text of a file's bytes: one decoding (UTF-8, or as its byte-order mark says: UTF-16, UTF-32), or
    for bytes that are not UTF-8 two (UTF-8 with replacement characters, and latin-1); none for binary data
    (a NUL byte and no byte-order mark)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return [data.decode(encoding, errors="replace")]
    if b"\0" in data:
        return []
    try:
        return [data.decode("utf-8")]
    except UnicodeDecodeError:
        return [data.decode("utf-8", errors="replace"), data.decode("latin-1")]


def text_documents(data: bytes, name: str) -> list[tuple[str, list[str]]] | None:
    """The texts in a file's bytes, each as (place, lines): the file itself (place ``name:{}``, the line number
    goes in the braces) and, for a notebook, each cell (``name, cell C, line {}``). None for binary data."""
    texts = decodings(data)
    if not texts:
        return None
    documents, escaped = [], name.replace("{", "{{").replace("}", "}}")
    for text in texts:
        if name.endswith(".ipynb"):
            try:
                cells = json.loads(text).get("cells", [])
                documents.extend((f"{escaped}, cell {index + 1}, line {{}}", _split_lines(cell_source(cell)))
                                 for index, cell in enumerate(cells))
            except (ValueError, AttributeError, TypeError):
                pass
        documents.append((f"{escaped}:{{}}", _split_lines(text)))
    return documents


def text_lines(path: Path | bytes, name: str = "") -> list[tuple[str, str]] | None:
    """(place, line) of each line of a file (a path, or its bytes and its name): ``name:N`` for the Nth line,
    and for a notebook also ``name, cell C, line N`` for each line of its cells. None for binary data."""
    if isinstance(path, Path):
        name, data = name or path.name, path.read_bytes()
    else:
        data = path
    documents = text_documents(data, name)
    if documents is None:
        return None
    return [(place.format(number), line) for place, lines in documents for number, line in enumerate(lines, 1)]


def is_compiled_python(name: str, data: bytes) -> bool:
    """A ``.pyc``/``.pyo`` file, anything in ``__pycache__``, or bytes that look like one whatever their name:
    the 16-byte header of Python 3.7+ (a magic number ending in ``\\r\\n``, flags 0, 1 or 3), then a
    marshalled code object."""
    parts = name.replace("!", "/").split("/")
    return (name.endswith(COMPILED_SUFFIXES) or "__pycache__" in parts
            or (len(data) > 16 and data[2:4] == b"\r\n" and data[4] in (0, 1, 3) and data[5:8] == b"\0\0\0"
                and data[16] in (0x63, 0xE3)))


def _size(size: int) -> str:
    return f"{size // 2**20} MB" if size >= 2**20 else f"{size} bytes"


class _Unreadable(Exception):
    """A file of the release that the leak check cannot read (its message says why and what to do)."""


# Archives and compressed data that the leak check cannot open: an error.
_UNSUPPORTED = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "rar", b"\x28\xb5\x2f\xfd": "zstd",
                b"\x04\x22\x4d\x18": "lz4"}


def _archive_kind(name: str, data: bytes) -> str | None:
    """zip (its kin too: wheels, jars, office files, torch checkpoints; a zip after a prefix too), tar, gzip,
    bz2, xz, or None; raises :class:`_Unreadable` for an archive format that the leak check cannot read."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[257:262] == b"ustar" or (name.endswith(".tar") and len(data) % 512 == 0 and len(data) >= 1024):
        return "tar"
    if b"PK\x05\x06" in data[-65557:] and zipfile.is_zipfile(io.BytesIO(data)):
        return "zip"  # after a prefix: a self-extracting archive, a zipapp
    for magic, kind in _UNSUPPORTED.items():
        if data.startswith(magic):
            raise _Unreadable(f"{name}: a {kind} archive, which the leak check cannot open, so it cannot be "
                              "checked for solution lines; use zip or tar.gz, or keep it out of the release "
                              "(.gitignore)")
    return None


_DECOMPRESS = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
_COMPRESSED_SUFFIXES = {"gzip": (".gz", ".gzip"), "bz2": (".bz2",), "xz": (".xz",)}


class _Reader:
    """The files of a release file: itself, or for an archive each file inside it, recursively."""

    def __init__(self):
        self.budget = LARGEST_ARCHIVE

    def _take(self, name: str, size: int, counted: int = 0) -> None:
        """Account for ``size`` decompressed bytes (``counted`` of them already) of the file ``name``."""
        if size > LARGEST_CHECKED:
            raise _Unreadable(f"{name}: more than {_size(LARGEST_CHECKED)} (decompressed): too large to "
                              "check for solution lines; keep it out of the release (.gitignore) or make it smaller")
        self.budget -= size - counted
        if self.budget < 0:
            raise _Unreadable(f"{name}: the archive decompresses to more than {_size(LARGEST_ARCHIVE)}: too "
                              "large to check for solution lines; keep it out of the release (.gitignore)")

    def files(self, name: str, data: bytes, depth: int = 0):
        """Yields (name, bytes) of each file; an archive's members are named ``archive.zip!inner/path``."""
        kind = _archive_kind(name, data)
        if kind is None:
            yield name, data
            return
        if depth >= DEEPEST_ARCHIVE:
            raise _Unreadable(f"{name}: archives nested more than {DEEPEST_ARCHIVE} deep: cannot be checked for "
                              "solution lines; keep it out of the release (.gitignore)")
        if kind == "zip":
            yield from self._zip(name, data, depth)
        elif kind == "tar":
            yield from self._tar(name, data, depth)
        else:
            try:
                with _DECOMPRESS[kind](fileobj=io.BytesIO(data)) if kind == "gzip" else \
                        _DECOMPRESS[kind](io.BytesIO(data)) as stream:
                    inner = stream.read(LARGEST_CHECKED + 1)
            except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as error:
                raise _Unreadable(f"{name}: a {kind} file that cannot be decompressed ({error}), so it cannot be "
                                  "checked for solution lines; repair it or keep it out of the release") from None
            self._take(name, len(inner))
            if _archive_kind("", inner) == "tar":
                yield from self._tar(name, inner, depth + 1)  # .tar.gz: its members are name!member
                return
            last = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
            stem = next((last[:-len(s)] for s in _COMPRESSED_SUFFIXES[kind] if last.endswith(s)), "") or \
                f"{last} (decompressed)"
            yield from self.files(f"{name}!{stem}", inner, depth + 1)

    def _zip(self, name: str, data: bytes, depth: int):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError):
            yield name, data  # not a zip after all: its bytes are checked
            return
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                member = f"{name}!{info.filename}"
                self._take(member, info.file_size)
                try:
                    with archive.open(info) as stream:
                        content = stream.read(LARGEST_CHECKED + 1)
                except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError, EOFError, zlib.error,
                        lzma.LZMAError, ValueError) as error:
                    raise _Unreadable(f"{member}: cannot be read ({error}), so it cannot be checked for solution "
                                      "lines; keep the archive out of the release (.gitignore)") from None
                self._take(member, len(content), counted=info.file_size)
                yield from self.files(member, content, depth + 1)

    def _tar(self, name: str, data: bytes, depth: int):
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        except (tarfile.TarError, OSError, ValueError):
            yield name, data
            return
        with archive:
            try:
                for info in archive:
                    if not info.isfile():
                        continue
                    member = f"{name}!{info.name}"
                    self._take(member, info.size)
                    stream = archive.extractfile(info)
                    yield from self.files(member, stream.read() if stream else b"", depth + 1)
            except (tarfile.TarError, OSError, EOFError) as error:
                raise _Unreadable(f"{name}: a damaged tar archive ({error}): cannot be checked for solution "
                                  "lines; repair it or keep it out of the release (.gitignore)") from None


def _where_from(region: Region) -> str:
    return f"solution of {region.exercise}, {region.where}"


def _text_leaks(place: str, lines: list[str], wanted: dict[str, Region], squeezed: dict[str, str],
                found: set[str]) -> list[str]:
    """The solution lines in one text: a line equal to one once normalised (commented out or a doctest line
    too), or a solution line inside a longer line or spread over lines (compared without any whitespace; only
    the lines not in ``found``, the lines found so far in the file, which this adds to)."""
    leaks = []
    for number, line in enumerate(lines, 1):
        forms = [normalise(line)]
        uncommented = _PROMPT.sub("", line)
        if uncommented != line:
            forms.append(normalise(uncommented))
        for form in forms:
            if form in wanted:
                found.add(form)
                leaks.append(f"{place.format(number)}: {line.strip()!r} ({_where_from(wanted[form])})")
                break
    pieces = [_squeeze(line) for line in lines]
    joined, starts = "".join(pieces), list(accumulate(map(len, pieces), initial=0))
    for line, needle in squeezed.items():
        at = joined.find(needle) if line not in found else -1
        if at >= 0:
            found.add(line)
            leaks.append(f"{place.format(bisect_right(starts, at))}: the solution line {line!r} is written here "
                         f"inside a longer line or over several lines ({_where_from(wanted[line])})")
    return leaks


def _leaks_in(name: str, data: bytes, wanted: dict[str, Region], squeezed: dict[str, str]) -> list[str]:
    """The solution lines in one file (not an archive), or why it cannot be checked."""
    if is_compiled_python(name, data):
        return [f"{name}: compiled Python in the release: a compiled solution cannot be checked line by line; "
                "delete the file, or keep it out of git (ignore __pycache__/ and *.pyc in .gitignore)"]
    documents = text_documents(data, name)
    if documents is not None:
        leaks, found = [], set()
        for place, lines in documents:
            leaks.extend(leak for leak in _text_leaks(place, lines, wanted, squeezed, found) if leak not in leaks)
        return leaks
    # Binary data: look for each solution line, whitespace removed, in the bytes read as UTF-8 (or latin-1)
    # and as UTF-16 in either byte order, from an even or an odd byte.
    leaks, found = [], set()
    for encoding, start in (("utf-8", 0), ("latin-1", 0), ("utf-16-le", 0), ("utf-16-be", 0), ("utf-16-le", 1),
                            ("utf-16-be", 1)):
        if encoding == "latin-1" and data.isascii():
            continue
        text = _squeeze(data[start:].decode(encoding, errors="replace"))
        for line, needle in squeezed.items():
            if line not in found and needle in text:
                found.add(line)
                leaks.append(f"{name}: binary data holds the solution line {line!r} ({_where_from(wanted[line])})")
    return leaks


def find_leaks(catalogue: Catalogue, outdir: Path) -> list[str]:
    """Places in ``outdir`` where a line of a solution appears (see :func:`solution_lines`), ``file:line``
    or ``archive.zip!inner/file:line``, and files that cannot be checked (compiled Python, unreadable or
    too large archives). Every file is read, whatever its encoding: text as UTF-8, UTF-16/32 with a
    byte-order mark, or latin-1; archives member by member; other binary data byte by byte. Empty for a
    good release."""
    outdir = Path(outdir)
    wanted = solution_lines(catalogue)
    squeezed = {line: _squeeze(line) for line in wanted}
    problems = []
    for name in sorted(p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()):
        path = outdir / name
        if path.stat().st_size > LARGEST_CHECKED:
            problems.append(f"{name}: more than {_size(LARGEST_CHECKED)}: too large to check for solution "
                            "lines; keep it out of the release (.gitignore) or make it smaller")
            continue
        try:
            for member, data in _Reader().files(name, path.read_bytes()):
                problems.extend(_leaks_in(member, data, wanted, squeezed))
        except _Unreadable as error:
            problems.append(str(error))
    return problems


def exercise_manifest(catalogue: Catalogue) -> dict:
    """homework.json: the exercises in course order, each with its points, places, hints and home notebook."""
    return {
        "exercises": {
            name: {"points": exercise.points, "where": sorted({r.location for r in exercise.regions}),
                   "hints": [r.hint for r in exercise.regions if r.hint],
                   "notebook": catalogue.homes[name].notebook if name in catalogue.homes else None}
            for name, exercise in catalogue.exercises.items()
        },
        "total_points": sum(e.points for e in catalogue.exercises.values()),
    }


def _student_sheet(catalogue: Catalogue) -> str:
    """HOMEWORK.md: how to work, and the exercises in the order the notebooks need them."""
    homes = catalogue.homes
    rows = []
    for name, e in catalogue.exercises.items():
        places = "; ".join(sorted({r.location for r in e.regions}))
        if homes:
            home = homes.get(name)
            notebook = f"`{Path(home.notebook).stem}`" if home else ""
            rows.append(f"| {notebook} | `{name}` | {e.points:g} | {places} |")
        else:
            rows.append(f"| `{name}` | {e.points:g} | {places} |")
    header = (["| notebook | exercise | points | where |", "|---|---|---|---|"] if homes else
              ["| exercise | points | where |", "|---|---|---|"])
    order = ([
        "The exercises are listed in the order the notebooks need them. Work through the notebooks from 00: just",
        "before the first cell that needs an exercise, a cell announces it (what to write, in which file and",
        "function), and the cell after it checks your code: `check_exercise(\"NAME\")` runs that exercise's",
        "tests and prints a line per test. A notebook runs to its end once the exercises of its row and of the",
        "rows above are done.", ""] if homes else [])
    total = sum(e.points for e in catalogue.exercises.values())
    return "\n".join([
        "# Homework", "",
        "Each exercise below is a place in a function body (or a notebook cell) between the lines",
        "`# YOUR CODE HERE (exercise NAME)` and `# END OF YOUR CODE (exercise NAME)`, which now holds a",
        "`raise NotImplementedError` with a hint. Replace the `raise` with your code and keep the two marker",
        "lines: the grader takes exactly what is between them, and nothing else of your copy.", "",
        *order,
        "When you want your score, run", "", "```bash", "python -m helpers.homework grade .", "```", "",
        "which runs the visible tests of every exercise and prints your score, the tests that fail with their",
        "messages, and what to look at next (the instructor grades with more tests). `pytest -m exercise` runs",
        "the same tests with pytest's full report.", "",
        *header, *rows, "", f"Total: {total:g} points.", "",
    ])


def release(root: Path | str, outdir: Path | str) -> Release:
    """Write the student copy of the repository at ``root`` to ``outdir`` (which must not exist or be empty).

    The copy is written to a temporary folder next to ``outdir`` and renamed to ``outdir`` only when every
    check has passed: no marker survived, and no solution line appears anywhere in it (see :func:`find_leaks`).
    On any failure nothing is left behind (a folder ``outdir`` that existed, empty, stays as it was).

    Raises :class:`MarkerError` for a bad marker (or a near miss), an exercise without tests, or a solution
    line that would leak into the release; the message names the file and line of each leak (the first 20).
    """
    root, outdir = Path(root).resolve(), Path(outdir).resolve()
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise FileExistsError(f"{outdir} exists and is not empty; give a new folder for the release")
    catalogue = scan(root)
    if not catalogue.exercises:
        raise MarkerError(f"{root}: no BEGIN SOLUTION marker found, nothing to release")
    files = repository_files(root)
    missing = [folder for folder in (outdir.parent, *outdir.parent.parents) if not folder.exists()]
    outdir.parent.mkdir(parents=True, exist_ok=True)
    partial = _new_partial_folder(outdir)
    try:
        stubbed = _write_release(root, partial, catalogue, files)
        left = scan(partial, require_tests=False).regions
        if left:
            raise MarkerError(f"{left[0].where}: a marker survived the release")
        leaks = find_leaks(catalogue, partial)
        if leaks:
            more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
            raise MarkerError("solution lines appear in the release, or files in it cannot be checked for them "
                              f"(nothing was written to {outdir}); mark the lines too or write them differently "
                              "outside the solution, and keep unreadable files out of the release:\n  "
                              + "\n  ".join(leaks[:20]) + more)
        try:
            os.replace(partial, outdir)  # POSIX: also over an empty folder, atomically
        except OSError:
            if not outdir.is_dir():
                raise
            outdir.rmdir()
            os.replace(partial, outdir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in missing:  # the parents this call created, deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return Release(outdir, catalogue, len(files), stubbed)


def _new_partial_folder(outdir: Path) -> Path:
    """A new, empty folder next to ``outdir`` (same file system, so that renaming it is atomic)."""
    for attempt in range(100):
        partial = outdir.with_name(f".{outdir.name}.partial-{os.getpid()}-{attempt}")
        try:
            partial.mkdir()
            return partial
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary folder next to {outdir}")


def _write_release(root: Path, outdir: Path, catalogue: Catalogue, files: list[str]) -> list[str]:
    """Write the student copy of ``files`` into ``outdir``; returns the files whose solutions were stubbed."""
    stubbed = []
    for name in files:
        source, target = root / name, outdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        regions = catalogue.regions_in(name)
        if name.endswith(".ipynb"):
            notebook = nbformat.read(source, as_version=4)
            nbformat.write(release_notebook(notebook, regions), target)
        elif regions:
            target.write_text(release_python(source.read_text(encoding="utf-8"), regions, name), encoding="utf-8")
        else:
            shutil.copy2(source, target)
        if any(r.kind == "SOLUTION" for r in regions):
            stubbed.append(name)
    (outdir / MANIFEST).write_text(json.dumps(exercise_manifest(catalogue), indent=2) + "\n", encoding="utf-8")
    (outdir / STUDENT_SHEET).write_text(_student_sheet(catalogue), encoding="utf-8")
    return stubbed


def is_student_release(root: Path | str) -> bool:
    """True for a copy written by :func:`release` (its notebooks are not executed, its solutions stubbed)."""
    return (Path(root) / MANIFEST).is_file()
