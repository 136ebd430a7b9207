"""A pytest plugin that reports each test's exercise and outcome as JSON lines, for the grader.

Loaded by the grader with ``-p`` from a private copy, so a student's copy of this file plays no part.
Options: ``--homework-report FILE`` (JSON lines: one ``collected`` record per selected test, one ``report``
record per test phase, one ``collect-error`` record per module that failed to import),
``--homework-exercises-only`` (deselect tests without ``@pytest.mark.exercise``) and
``--homework-expect-root DIR`` (stop unless ``helpers`` is imported from DIR, the copy under test).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("homework")
    group.addoption("--homework-report", default=None, help="write per-test outcomes as JSON lines here")
    group.addoption("--homework-exercises-only", action="store_true", help="run only @pytest.mark.exercise tests")
    group.addoption("--homework-expect-root", default=None, help="require helpers to import from this folder")


def _write(config, record):
    path = config.getoption("--homework-report")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def pytest_configure(config):
    config.addinivalue_line("markers", "exercise(name): a grading test of the homework exercise NAME")
    expected = config.getoption("--homework-expect-root")
    if expected:
        spec = importlib.util.find_spec("helpers")
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is None or not origin.is_relative_to(Path(expected).resolve()):
            _write(config, {"kind": "fatal", "message": f"helpers imports from {origin}, not from {expected}"})
            pytest.exit(f"helpers imports from {origin}, not from the copy under test {expected}", returncode=3)


def _exercise(item):
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return None
    return str(marker.args[0]) if marker.args else ""


def pytest_collection_modifyitems(session, config, items):
    if config.getoption("--homework-exercises-only"):
        keep = [item for item in items if _exercise(item) is not None]
        dropped = [item for item in items if _exercise(item) is None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    for item in items:
        _write(config, {"kind": "collected", "nodeid": item.nodeid, "exercise": _exercise(item)})


def pytest_collectreport(report):
    if report.failed:
        _write(report_config, {"kind": "collect-error", "nodeid": report.nodeid,
                               "message": _message(report)})


report_config = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    global report_config
    report_config = session.config


ANSI = re.compile(r"\x1b\[[0-9;]*m")  # nbval's tracebacks are coloured


def _message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return ANSI.sub("", crash.message)[:1000]
    text = ANSI.sub("", report.longreprtext if hasattr(report, "longreprtext") else str(report.longrepr))
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-5:])[:1000]


def pytest_runtest_logreport(report):
    record = {"kind": "report", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
    if report.failed or report.skipped:
        record["message"] = _message(report)
    _write(report_config, record)
