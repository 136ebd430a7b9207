"""The grading run inside the sandbox: collect the exercise tests once, then run each in a forked child.

Started by :mod:`helpers.homework.sandbox` as ``python -I -B _runner.py --workspace DIR --timeout S
--memory MB [--drop-to UID] [--own-pid-namespace] TEST_FILE...``. It imports nothing of ``helpers`` itself
(the copy under test is on ``sys.path`` only for the tests), and writes one JSON line per event to the
file descriptor that was its stdout when it started; every other output goes to stderr.

Why a fork per test. The student's code runs only inside function bodies, so importing the graded copy
and collecting the tests run none of it (the grader's guard line in each region checks this: it exits
with code 70 if exercise code runs while ``HOMEWORK_COLLECTING`` is set). Each test then runs in a child
process that:

- starts a new session, and gives up root (to ``--drop-to``) when the runner has it, so it can neither
  signal, trace nor read the memory of the runner;
- closes the runner's channel: the only way out is its own pipe, which carries that one test's result;
- runs under resource limits: CPU seconds, address space, file size, no core files, and processes (when
  it is not root);
- is killed after ``--timeout`` seconds of wall time, with everything it started (the whole PID namespace
  when the sandbox gives the runner one).

The runner, which never runs student code, decides the outcome: a test passes only if its setup, call
and teardown phases all reported "passed" and the child then exited with status 0. Code inside a test can
still forge that one test's own report (it runs in the same process as the test's assertions); it cannot
reach any other test's result. The static tamper check of :mod:`helpers.homework.splice` flags the means.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time

import pytest

COLLECTING = "HOMEWORK_COLLECTING"
GUARD_EXIT = 70
MESSAGE_LIMIT = 2000


def _emit(channel, record: dict) -> None:
    channel.write(json.dumps(record) + "\n")
    channel.flush()


def _message(report) -> str:
    import re

    ansi = re.compile(r"\x1b\[[0-9;]*m")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return ansi.sub("", crash.message)[:MESSAGE_LIMIT]
    text = ansi.sub("", report.longreprtext if hasattr(report, "longreprtext") else str(report.longrepr))
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-5:])[:MESSAGE_LIMIT]


def _exercise(item):
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return None
    return str(marker.args[0]) if marker.args else ""


def _limit(kind, value):
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass


def _address_space() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * resource.getpagesize()


class Runner:
    """The pytest plugin of the runner (collection in this process, each test in a child)."""

    def __init__(self, channel, options):
        self.channel = channel
        self.options = options
        self.control = False

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "exercise(name): a grading test of the homework exercise NAME")

    def pytest_collection_modifyitems(self, session, config, items):
        only = self.options.only_exercise
        keep = [item for item in items if _exercise(item) is not None and self.selected(item)
                and (only is None or _exercise(item) in only.split(","))]
        dropped = [item for item in items if item not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        for item in items:
            path, line, _ = item.location
            _emit(self.channel, {"kind": "collected", "nodeid": item.nodeid, "exercise": _exercise(item),
                                 "path": path, "line": (line or 0) + 1})

    def selected(self, item) -> bool:
        """With ``--select-lines PATH:BEGIN:END``, only the tests defined between those lines run."""
        if not self.options.select_lines:
            return True
        path, line, _ = item.location
        for spec in self.options.select_lines:
            where, begin, end = spec.rsplit(":", 2)
            if where == path and int(begin) < (line or 0) + 1 < int(end):
                return True
        return False

    def pytest_collectreport(self, report):
        if report.failed:
            _emit(self.channel, {"kind": "collect-error", "nodeid": report.nodeid, "message": _message(report)})

    def pytest_runtestloop(self, session):
        self.preload()
        os.environ.pop(COLLECTING, None)
        import gc

        gc.collect()
        gc.freeze()  # what exists now is never scanned again: fast collections in the children, fewer copied pages
        try:  # not dumpable: a child of the same user cannot read this process's memory or descriptors
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):
            pass
        import secrets

        controlled = set()
        for item in session.items:
            exercise = _exercise(item)
            runs = [False]
            if self.options.controls and exercise not in controlled:
                controlled.add(exercise)
                runs.insert(secrets.randbelow(2), True)  # the control comes first or second, at random
            for control in runs:
                result = self.run_forked(item, control=control)
                if control:
                    _emit(self.channel, {"kind": "control", "nodeid": item.nodeid, "exercise": exercise, **result})
                else:
                    _emit(self.channel, {"kind": "result", "nodeid": item.nodeid, **result})
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        """In a control run, the test fails once its function has returned. A wrapper hook: while the test
        runs, no frame of the runner is on its stack."""
        result = yield
        if self.control:
            raise AssertionError("assert False")
        return result

    def preload(self) -> None:
        """Import every module of the ``--preload`` packages once, here, so that each test's process starts
        with them (their module-level code is the template's; the guard stops the run if an import calls
        exercise code). A module that fails to import is left to the tests, which then report it."""
        import importlib
        import pkgutil

        start, failed = time.monotonic(), []
        for name in self.options.preload:
            try:
                package = importlib.import_module(name)
            except Exception as error:  # noqa: BLE001 - reported by the tests that need it
                failed.append(f"{name}: {type(error).__name__}: {error}"[:300])
                continue
            for module in pkgutil.walk_packages(getattr(package, "__path__", []), name + "."):
                if ".homework" in module.name:
                    continue
                try:
                    importlib.import_module(module.name)
                except Exception as error:  # noqa: BLE001
                    failed.append(f"{module.name}: {type(error).__name__}: {error}"[:300])
        _emit(self.channel, {"kind": "preloaded", "seconds": round(time.monotonic() - start, 3), "failed": failed})

    # ----------------------------------------------------------------------------------------------
    def run_forked(self, item, control: bool = False) -> dict:
        """Run ``item`` in a child process; return its outcome. A *control* run is the same test with a
        failure the runner adds once the test function has returned: an honest process reports it as
        failed, so a control reported as passed shows that the test's process forged its reports."""
        options = self.options
        read_end, write_end = os.pipe()
        space = _address_space()
        self.counter = getattr(self, "counter", 0) + 1
        private = os.path.join(self.tmp_root, f"test-{self.counter}")
        os.makedirs(private, exist_ok=True)
        os.chmod(private, 0o1777)  # inside a folder the tests cannot list or write: the test's own
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.close(read_end)
                os.close(self.channel.fileno())
                os.setsid()
                for key in ("TMPDIR", "HOME", "MPLCONFIGDIR"):
                    os.environ[key] = private
                import tempfile

                tempfile.tempdir = private
                self.enter_limits(space)
                self.control = control
                reports = self.run_here(item)
                payload = json.dumps({"reports": reports}).encode()
                with os.fdopen(write_end, "wb") as out:
                    out.write(payload)
            finally:
                os._exit(0)
        os.close(write_end)
        data, deadline, timed_out = b"", start + options.timeout, False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            if len(data) < 1_000_000:
                data += chunk
        os.close(read_end)
        status = None
        while not timed_out:  # the report is in: let the child exit on its own (it may be closing files)
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.002)
        self.kill_everything_but_me(pid)
        if status is None:
            _, status = os.waitpid(pid, 0)
        import shutil

        shutil.rmtree(private, ignore_errors=True)  # no test sees what another left behind
        seconds = round(time.monotonic() - start, 3)
        if timed_out:
            return {"outcome": "timeout", "seconds": seconds,
                    "message": f"stopped after {options.timeout:g} s (the time limit per test)"}
        return self.decide(data, status, seconds)

    def enter_limits(self, space: int) -> None:
        options = self.options
        _limit(resource.RLIMIT_CPU, int(options.timeout) + 1)
        _limit(resource.RLIMIT_CORE, 0)
        _limit(resource.RLIMIT_FSIZE, 64 * 2**20)
        _limit(resource.RLIMIT_AS, space + options.memory * 2**20)
        if os.getuid() == 0 and options.drop_to is not None:
            os.setgroups([])
            os.setgid(options.drop_to)
            os.setuid(options.drop_to)
        if os.getuid() != 0:
            _limit(resource.RLIMIT_NPROC, 64 if options.drop_to is not None else resource.RLIM_INFINITY)

    @staticmethod
    def run_here(item) -> list[dict]:
        from _pytest.runner import runtestprotocol

        reports = runtestprotocol(item, log=False, nextitem=None)
        return [{"when": r.when, "outcome": r.outcome, "duration": round(r.duration, 3),
                 **({"message": _message(r)} if r.failed or r.skipped else {})} for r in reports]

    def kill_everything_but_me(self, pid: int) -> None:
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        if self.options.own_pid_namespace and os.getpid() < 10:
            # In the sandbox's own PID namespace: whatever the test started, detached or not, dies here.
            try:
                os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    @staticmethod
    def decide(data: bytes, status: int, seconds: float) -> dict:
        code = os.waitstatus_to_exitcode(status)
        try:
            ended = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        except ValueError:
            ended = f"signal {-code}"
        try:
            reports = json.loads(data.decode())["reports"]
            phases = {str(r["when"]): r for r in reports if isinstance(r, dict)}
        except Exception:  # noqa: BLE001 - whatever the child wrote: not a report
            return {"outcome": "error", "seconds": seconds,
                    "message": f"the test's process ended ({ended}) before the test reported"}
        for when in ("setup", "call", "teardown"):
            report = phases.get(when)
            if report is None:
                if any(r.get("outcome") == "skipped" for r in phases.values()):
                    skipped = next(r for r in phases.values() if r.get("outcome") == "skipped")
                    return {"outcome": "skipped", "seconds": seconds, "message": str(skipped.get("message", ""))}
                return {"outcome": "error", "seconds": seconds,
                        "message": f"the test's process ended ({ended}) before its {when} phase reported"}
            if report.get("outcome") == "failed":
                return {"outcome": "failed" if when == "call" else "error", "seconds": seconds,
                        "message": str(report.get("message", ""))[:MESSAGE_LIMIT]}
            if report.get("outcome") == "skipped":
                return {"outcome": "skipped", "seconds": seconds, "message": str(report.get("message", ""))}
        if code != 0:
            return {"outcome": "error", "seconds": seconds, "message": f"the test's process ended with {ended}"}
        return {"outcome": "passed", "seconds": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--memory", type=int, default=2048, help="MiB of address space for a test")
    parser.add_argument("--drop-to", type=int, default=None)
    parser.add_argument("--own-pid-namespace", action="store_true")
    parser.add_argument("--private-tmp", action="store_true", help="/tmp belongs to this sandbox alone")
    parser.add_argument("--preload", action="append", default=[], help="a package to import before the tests")
    parser.add_argument("--controls", action="store_true", help="run a control twin of each exercise's first test")
    parser.add_argument("--select-lines", action="append", default=[], help="PATH:BEGIN:END, tests defined there")
    parser.add_argument("--only-exercise", default=None, help="run the tests of these exercises only (comma-separated names)")
    parser.add_argument("tests", nargs="+")
    options = parser.parse_args(argv)
    import tempfile

    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # pytest's own output, and anything else, goes to stderr
    # The copy under test, and nothing else, provides `helpers`: no editable install of the instructor's
    # repository (its import hook, or a path to it) may fill in a module.
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")
                        and "__editable__" not in type(f).__module__]
    # The copy comes first on sys.path, so its package wins; a package's submodules are only looked for in
    # the package's own folder, so without the editable hook nothing else can fill in a missing one.
    sys.path.insert(0, options.workspace)
    os.chdir(options.workspace)
    os.environ[COLLECTING] = "1"
    import pytest

    config = os.path.join(options.workspace, "pyproject.toml")
    if not os.path.isfile(config):  # a course without pytest settings: an empty file, never one found elsewhere
        config = os.path.join(os.environ.get("TMPDIR", "/tmp"), "homework-pytest.ini")
        with open(config, "w") as handle:
            handle.write("[pytest]\n")
    arguments = [*options.tests, "-c", config, "--rootdir",
                 options.workspace, "-o", "addopts=", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:unraisableexception", "-p", "no:threadexception",
                 "-m", "exercise", "-q", "--no-header", "--continue-on-collection-errors"]
    runner = Runner(channel, options)
    runner.tmp_root = tempfile.mkdtemp(prefix="homework-tests-")
    os.chmod(runner.tmp_root, 0o711)  # a test reaches its own folder inside, and cannot list or write the rest
    if options.private_tmp and os.getuid() == 0:
        os.chmod("/tmp", 0o711)  # bubblewrap's /tmp is the sandbox's own: no test writes there either
    code = pytest.main(arguments, plugins=[runner])
    _emit(channel, {"kind": "done", "code": int(code)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
