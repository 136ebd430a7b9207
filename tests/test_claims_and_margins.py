"""Named claims (helpers.claims.check) and the margin audit that runs notebooks over seeds and threads."""

import json
import math

import nbformat
import numpy as np
import pytest
import torch

from helpers.claims import CLAIMS_FILE_VARIABLE, check, relative_margin
from helpers.margins import Run, format_report, main, parse_list, summarise


def test_check_records_what_it_measured(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_FILE_VARIABLE, str(log))
    assert check("accuracy", 0.9, ">", 0.5, reference=0.1) is None  # nothing to display in a notebook cell
    check("error", torch.tensor(0.2), "<=", 0.4, reference=1.0)
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first == {"name": "accuracy", "value": 0.9, "op": ">", "bound": 0.5, "reference": 0.1, "passed": True,
                     "margin": pytest.approx(0.4), "relative_margin": pytest.approx(1.0)}
    assert second["relative_margin"] == pytest.approx(1 / 3) and second["margin"] == pytest.approx(0.2)


def test_a_failed_claim_names_itself_and_is_still_recorded(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_FILE_VARIABLE, str(log))
    with pytest.raises(AssertionError, match=r"claim not met: share fooled: measured 0\.3, expected > 0\.5"):
        check("share fooled", 0.3, ">", 0.5)
    with pytest.raises(AssertionError, match="measured nan"):
        check("loss ratio", float("nan"), "<", 1.0, reference=2.0)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["passed"] for r in records] == [False, False]
    assert records[0]["relative_margin"] == pytest.approx(-0.4) and math.isnan(records[1]["value"])


def test_check_without_a_claims_file_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(CLAIMS_FILE_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    check("x", 1, ">=", 1, reference=0)  # equality passes ">="
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, error, message", [
    (("x", 1.0, "==", 1.0), ValueError, "op must be one of"),
    (("", 1.0, ">", 0.5), ValueError, "name"),
    (("x", "0.9", ">", 0.5), TypeError, "value must be a real number"),
    (("x", True, ">", 0.5), TypeError, "value must be a real number"),
    (("x", torch.ones(3), ">", 0.5), ValueError, "single number"),
    (("x", np.ones(2), ">", 0.5), ValueError, "single number"),
    (("x", 1.0, ">", float("inf")), ValueError, "finite"),
])
def test_malformed_checks_are_refused(args, error, message):
    with pytest.raises(error, match=message):
        check(*args)


@pytest.mark.parametrize("op, bound, reference", [(">", 0.5, 0.5), (">", 0.5, 0.9), ("<", 0.5, 0.1), ("<=", 2, 2)])
def test_the_reference_must_lie_on_the_failing_side(op, bound, reference):
    with pytest.raises(ValueError, match="reference"):
        check("x", 0.7, op, bound, reference=reference)


def test_numpy_scalars_and_one_element_arrays_are_numbers(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_FILE_VARIABLE, str(log))
    check("x", np.float32(0.75), ">", 0.5)
    check("x", np.array([0.25]), "<", 0.5, reference=1.0)
    assert [json.loads(line)["value"] for line in log.read_text().splitlines()] == [0.75, 0.25]


def test_relative_margin_is_the_share_of_the_distance_to_the_reference():
    assert relative_margin(0.7, ">", 0.5, 0.0) == pytest.approx(0.4)
    assert relative_margin(0.3, "<", 0.5, 1.0) == pytest.approx(0.4)
    assert relative_margin(0.4, ">=", 0.5, 0.0) == pytest.approx(-0.2)


def test_parse_list():
    assert parse_list("0-4") == [0, 1, 2, 3, 4]
    assert parse_list("1,2") == [1, 2] and parse_list("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(Exception, match="expected numbers"):
        parse_list("")


def _record(name, value, op=">", bound=0.5, reference=0.0):
    passed = value > bound if op == ">" else value < bound
    return {"name": name, "value": value, "op": op, "bound": bound, "reference": reference, "passed": passed,
            "margin": 0.0, "relative_margin": relative_margin(value, op, bound, reference)}


def test_the_report_keeps_the_worst_run_of_each_claim_and_applies_the_rule():
    runs = [Run("05_gans.ipynb", seed, threads, claims=[_record("confident", value), _record("ratio", ratio, "<", 1, 2)])
            for seed, threads, value, ratio in [(0, 1, 0.9, 0.2), (1, 2, 0.55, 0.5), (2, 1, 0.7, 1.2)]]
    claims = summarise(runs)
    assert [c.name for c in claims] == ["confident", "ratio"]
    confident, ratio = claims
    assert confident.worst["seed"] == 1 and confident.worst_margin == pytest.approx(0.1) and confident.passed == 3
    assert ratio.worst["seed"] == 2 and ratio.passed == 2 and ratio.worst_margin == pytest.approx(-0.2)
    table = format_report(claims, runs, min_margin=0.2)
    lines = table.splitlines()
    assert "0.55 (1, 2)" in lines[1] and "0.10 THIN" in lines[1] and "3/3" in lines[1]
    assert "1.2 (2, 1)" in lines[2] and "-0.20 FAILS" in lines[2] and "2/3" in lines[2]
    assert "| 05 | confident |" in format_report(claims, runs, 0.2, markdown=True)


def test_a_bar_in_a_claim_name_does_not_break_the_markdown_table():
    runs = [Run("08_cyclegan.ipynb", 0, 1, claims=[_record("mean |G(a) - a|", 0.9)])]
    row = format_report(summarise(runs), runs, 0.2, markdown=True).splitlines()[2]
    assert "mean \\|G(a) - a\\|" in row
    assert len(row.replace("\\|", "").split("|")) == 9  # 7 columns between 8 bars


def test_a_nan_is_the_worst_value():
    runs = [Run("x.ipynb", 0, 1, claims=[_record("a", 0.9)]), Run("x.ipynb", 1, 1, claims=[_record("a", float("nan"))])]
    (claim,) = summarise(runs)
    assert claim.worst["seed"] == 1 and claim.worst_margin == -math.inf


def test_the_audit_runs_a_notebook_under_each_seed_and_thread_count(tmp_path, capsys):
    """End to end, on a two-cell notebook: COURSE_SEED, OMP_NUM_THREADS and fast mode reach the kernel, every
    check is collected, a claim that fails under that seed makes the exit status 1, the notebook is not
    modified, and the executed copy is kept when asked."""
    notebook = tmp_path / "notebooks" / "claims.ipynb"
    notebook.parent.mkdir()
    cells = ["import torch\nfrom helpers import config\nfrom helpers.claims import check",
             "check('threads', torch.get_num_threads(), '>', 0.5, reference=0)\n"
             "check('fast mode', float(config.fast_mode()), '>', 0.5, reference=0)\n"
             "check('checkpoint there', float(open('../build/checkpoints/run.txt').read()), '>', 6, reference=0)\n"
             "check('seed set', config.course_seed(), '<', 1.5, reference=3)"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), notebook)
    before = notebook.read_bytes()
    report = tmp_path / "runs.json"
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "run.txt").write_text("7")  # a checkpoint each run starts with
    code = main([str(notebook), "--seeds", "2", "--threads", "1", "--json", str(report), "--save", str(tmp_path / "kept"),
                 "--checkpoints", str(tmp_path / "trained")])
    printed = capsys.readouterr().out
    assert code == 1, printed  # seed set 2 fails the last claim
    (run,) = json.loads(report.read_text())
    assert (run["seed"], run["threads"]) == (2, 1)
    claims = {c["name"]: c for c in run["claims"]}
    assert claims["seed set"]["value"] == 2 and not claims["seed set"]["passed"]
    assert claims["threads"]["value"] == 1 and claims["fast mode"]["value"] == 1
    assert claims["checkpoint there"]["value"] == 7
    assert "seed set" in printed and "FAILS" in printed and "0/1" in printed
    assert notebook.read_bytes() == before
    kept = nbformat.read(tmp_path / "kept" / "seed-2-threads-1" / "claims.ipynb", as_version=4)
    assert kept.cells[1].outputs[0]["ename"] == "AssertionError"  # executed, with its outputs
