"""Running the grading tests of one spliced copy in a sandbox, and reading their outcomes.

Three layers, the strongest the machine offers (``python -m helpers.homework sandbox`` says which):

``bubblewrap`` (Debian's ``bwrap``)
    New network, PID, IPC and UTS namespaces: no network, and every process the tests start dies with the
    run. The file system is a read-only view of the system and the Python environment only, plus the
    graded copy (read-only) and a private ``/tmp``: the instructor's checkout, other submissions and the
    grade book being written do not exist inside. Capabilities are dropped but for what the runner needs
    to give up root in each test's process (``CAP_SETUID``, ``CAP_SETGID``, ``CAP_KILL``).
``unshare`` (util-linux)
    No network and its own PID namespace, but the whole file system is visible; when run as root each
    test's process still gives up root, so it cannot write files it does not own.
``none``
    Only what the runner does itself: a process per test, resource limits, a time limit per test.

Whatever the layer, the outcome reaches the grader through a pipe that only the runner writes (see
:mod:`helpers.homework._runner`); the grader reads it while the run goes on, so nothing written later can
change it.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("bubblewrap", "unshare", "none")
INSIDE_WORKSPACE = "/grading/submission"
INSIDE_RUNNER = "/grading/runner"
NOBODY = 65534
TMP_BYTES = 512 * 2**20  # the private /tmp of a bubblewrap run: a test filling it fails, the machine does not
ENVIRONMENT = {"HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp",
               "COURSE_FAST_MODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/local/bin:/usr/bin:/bin"}


@dataclass
class RunResult:
    records: list[dict]
    layer: str
    exit_code: int
    output: str  # the tail of the run's stderr (pytest's own report), for the instructor
    errors: list[str] = field(default_factory=list)


def _python_roots() -> list[str]:
    """The folders the Python environment lives in (the interpreter, the standard library, site-packages)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(os.path.realpath(
        sys.executable)))}
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")) and os.path.isdir(entry):
            roots.add(entry)
    roots = sorted(os.path.realpath(r) for r in roots if r and os.path.isdir(r))
    return [r for r in roots if not any(r != other and r.startswith(other.rstrip("/") + "/") for other in roots)]


def bubblewrap_command(workspace: Path, runner: Path) -> list[str]:
    command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    for name in ("/usr", "/etc", "/sys"):  # /sys: torch reads the CPU's features there
        if os.path.isdir(name):
            command += ["--ro-bind", name, name]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(name):
            command += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            command += ["--ro-bind", name, name]
    # /dev, /proc and the private /tmp first: a bind below /tmp (a virtual environment there) goes on top.
    command += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    binds = [(root, root) for root in _python_roots() if not root.startswith(("/usr/", "/etc/"))]
    binds += [(str(workspace), INSIDE_WORKSPACE), (str(runner), INSIDE_RUNNER)]
    made = set()
    for _, inside in binds:  # bwrap makes missing folders 0700: the unprivileged test could not pass them
        for parent in reversed(Path(inside).parents):
            if str(parent) not in made and str(parent) not in ("/", "/usr", "/etc", "/tmp"):
                made.add(str(parent))
                command += ["--perms", "0755", "--dir", str(parent)]
    for source, inside in binds:
        command += ["--ro-bind", source, inside]
    command += ["--chdir", INSIDE_WORKSPACE]
    for key, value in ENVIRONMENT.items():
        command += ["--setenv", key, value]
    if os.getuid() == 0:
        # What the runner needs: to become nobody in each test's process (which then has no capability
        # left), to kill what a test started, and to clean up the folders a test wrote.
        command += ["--cap-drop", "ALL"]
        for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER"):
            command += ["--cap-add", capability]
    return command + ["--"]


@functools.lru_cache(maxsize=None)
def layer_works(layer: str) -> bool:
    """Whether ``layer`` can start a process on this machine (tried once per process)."""
    if layer == "none":
        return True
    with tempfile.TemporaryDirectory() as folder:
        if layer == "bubblewrap":
            if shutil.which("bwrap") is None:
                return False
            command = [*bubblewrap_command(Path(folder), Path(folder)), sys.executable, "-I", "-c", "pass"]
        else:
            if shutil.which("unshare") is None:
                return False
            command = [*_unshare_prefix(), sys.executable, "-I", "-c", "pass"]
        try:
            return subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def _unshare_prefix() -> list[str]:
    prefix = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.getuid() != 0:
        prefix.insert(1, "--map-root-user")
    return prefix


def best_layer() -> str:
    """The strongest layer that works here, or the one named by ``HOMEWORK_SANDBOX`` (to test a weaker one)."""
    forced = os.environ.get("HOMEWORK_SANDBOX")
    if forced:
        if forced not in LAYERS or not layer_works(forced):
            raise RuntimeError(f"HOMEWORK_SANDBOX={forced!r}: use one of {', '.join(LAYERS)} that works here")
        return forced
    return next(layer for layer in LAYERS if layer_works(layer))


def run_sandboxed(workspace: Path | str, test_files: list[str], *, timeout: float = 60, memory: int = 2048,
                  layer: str | None = None, stall: float | None = None, preload: tuple[str, ...] = ("helpers",),
                  total: float = 900, controls: bool = True, extra: list[str] = ()) -> RunResult:
    """Run the exercise tests in ``test_files`` (relative to ``workspace``) of the spliced copy at
    ``workspace``, each in its own process with ``timeout`` seconds of wall time and ``memory`` MiB, inside
    ``layer`` (default: the strongest that works here). The packages in ``preload`` are imported once before
    the tests fork (their module-level code only). Returns the runner's records as they arrived.

    The run as a whole is stopped when no record arrives for ``stall`` seconds (default: the time limit
    per test plus two minutes; the runner itself never runs student code, so that means a broken setup)
    or after ``total`` seconds; the tests left are then reported as not run. With ``controls``, the first
    test of each exercise also runs as a control (see :mod:`helpers.homework._runner`).
    """
    workspace = Path(workspace).resolve()
    layer = layer or best_layer()
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    if not layer_works(layer):
        raise RuntimeError(f"the sandbox layer {layer!r} does not work on this machine; try "
                           f"{best_layer()!r} (python -m helpers.homework sandbox)")
    stall = stall if stall is not None else timeout + 120
    drop = NOBODY if os.getuid() == 0 and (layer == "bubblewrap" or _others_can_read(workspace)) else None
    if os.getuid() == 0 and drop is None:
        raise RuntimeError(
            f"the {layer!r} sandbox would run student code as root on this machine (Python is installed where "
            "other users cannot read it, so the tests cannot run as nobody): install bubblewrap, run the grader "
            "as an ordinary user, or use a Python that others can read")
    runner_dir = Path(tempfile.mkdtemp(prefix="homework-runner-"))
    shutil.copy2(Path(__file__).with_name("_runner.py"), runner_dir / "_runner.py")
    os.chmod(runner_dir, 0o755)
    own_pid = layer in ("bubblewrap", "unshare")
    if layer == "bubblewrap":
        inside_workspace, inside_runner = INSIDE_WORKSPACE, INSIDE_RUNNER
        prefix, env, cwd = bubblewrap_command(workspace, runner_dir), None, None
    else:
        inside_workspace, inside_runner = str(workspace), str(runner_dir)
        prefix = _unshare_prefix() if layer == "unshare" else []
        env, cwd = {**ENVIRONMENT, "PATH": os.environ.get("PATH", ENVIRONMENT["PATH"])}, str(workspace)
        tmp = Path(tempfile.mkdtemp(prefix="homework-tmp-"))
        os.chmod(tmp, 0o711)  # each test writes only in its own folder inside
        env.update(HOME=str(tmp), TMPDIR=str(tmp), MPLCONFIGDIR=str(tmp))
    command = [*prefix, sys.executable, "-I", "-B", f"{inside_runner}/_runner.py", "--workspace", inside_workspace,
               "--timeout", str(timeout), "--memory", str(memory), *(["--drop-to", str(drop)] if drop else []),
               *(["--own-pid-namespace"] if own_pid else []), *(["--private-tmp"] if layer == "bubblewrap" else []),
               *[f"--preload={p}" for p in preload],
               *(["--controls"] if controls else []), *extra, *test_files]
    _readable(workspace)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               env=env, cwd=cwd, start_new_session=True)
    records, errors, buffer, output = [], [], b"", b""
    last = started = time.monotonic()
    try:
        streams = {process.stdout.fileno(): "out", process.stderr.fileno(): "err"}
        while streams:
            ready, _, _ = select.select(list(streams), [], [], 5)
            if not ready and time.monotonic() - last > stall:
                errors.append(f"the grading run stopped: no test finished within {stall:g} s")
                break
            if time.monotonic() - started > total:
                errors.append(f"the grading run stopped after {total:g} s (the time limit per submission)")
                break
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    del streams[fd]
                    continue
                if streams[fd] == "err":
                    output = (output + chunk)[-8000:]
                    continue
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    try:
                        records.append(json.loads(line))
                        last = time.monotonic()
                    except ValueError:
                        errors.append(f"the runner wrote a line that is not JSON: {line[:200]!r}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = process.wait()
        shutil.rmtree(runner_dir, ignore_errors=True)
        if layer != "bubblewrap":
            shutil.rmtree(tmp, ignore_errors=True)
    text = output.decode("utf-8", "replace")
    if code == 70 or (code != 0 and not any(r.get("kind") == "done" for r in records)):
        reason = ("exercise code ran while the tests were being collected (a test module calls an exercise at "
                  "import time)" if code == 70 else f"the grading run ended with exit code {code}")
        errors.append(f"{reason}; its last output:\n{text[-3000:]}")
    return RunResult(records, layer, code, text, errors)


def _others_can_read(workspace: Path) -> bool:
    """Whether a process of another user could import Python and the graded copy here: every folder on the
    way to them must let others pass (a Python under /root, mode 0700, does not). Inside bubblewrap the
    grader makes those folders itself; elsewhere, when this is False, the tests keep the grader's user."""
    for target in [*_python_roots(), str(workspace)]:
        path = Path(target)
        for folder in [path, *path.parents]:
            try:
                if not folder.stat().st_mode & 0o001:
                    return False
            except OSError:
                return False
    return True


def _readable(folder: Path) -> None:
    """Let the unprivileged test processes read the copy (they run as nobody when the grader is root)."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        wanted = mode | (0o555 if path.is_dir() else 0o444)
        if wanted != mode:
            os.chmod(path, wanted)
