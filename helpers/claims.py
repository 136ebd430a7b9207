"""The claims a notebook makes, checked in code and named, so that their margins can be measured.

A notebook states a measured claim of the lecture with :func:`check`::

    check("P(iguana) of the fooled noise", probability, ">=", 0.9, reference=0.001)

which is ``assert probability >= 0.9`` with a name, a clear message when it fails, and a record of the
value. ``reference`` is what the value would be if the claim were false: chance, an untrained network,
random noise, the do-nothing baseline. It says how far the bound sits from failure of the lecture's point,
and so how much room a run has: the **relative margin** of a value is

    (value - bound) / |bound - reference|   for ">" and ">="    (the mirror image for "<" and "<=")

0 at the bound, 1 when the value is as far beyond the bound as the bound is beyond the reference, negative
when the claim fails. ``python -m helpers.margins`` runs notebooks under several seeds and thread counts
and reports the worst relative margin of every claim (README, "Claims and their margins").

Invariants that hold by construction (a shape, values inside [0, 1]) stay plain ``assert`` statements:
they have no margin to measure.

When the environment variable ``COURSE_CLAIMS_FILE`` names a file, every check appends one JSON line to
it: ``name``, ``value``, ``op``, ``bound``, ``reference``, ``passed``, ``margin`` and ``relative_margin``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path

CLAIMS_FILE_VARIABLE = "COURSE_CLAIMS_FILE"
OPERATORS = (">", ">=", "<", "<=")

__all__ = ["check", "relative_margin", "CLAIMS_FILE_VARIABLE", "OPERATORS"]


def _number(value: object, name: str) -> float:
    """``value`` as a float: Python and NumPy numbers, and one-element tensors or arrays."""
    if hasattr(value, "numel") and callable(value.numel):  # a torch tensor
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}; "
                             "reduce it first (.mean(), .max(), ...)")
        value = value.item()
    elif hasattr(value, "size") and hasattr(value, "item") and not isinstance(value, numbers.Number):  # NumPy
        if value.size != 1:
            raise ValueError(f"{name} must be a single number, got an array of shape {value.shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}; a claim compares "
                        "a measured number with a bound")
    return float(value)


def relative_margin(value: float, op: str, bound: float, reference: float) -> float:
    """How far ``value`` clears ``bound`` in the direction of ``op``, as a share of ``|bound - reference|``
    (negative when the claim fails; NaN for a NaN value, which is the one non-finite number accepted).
    ``bound`` and ``reference``: finite and different."""
    if op not in OPERATORS:
        raise ValueError(f"op must be one of {OPERATORS}, got {op!r}")
    value, bound, reference = _number(value, "value"), _number(bound, "bound"), _number(reference, "reference")
    if not (math.isfinite(bound) and math.isfinite(reference)) or bound == reference:
        raise ValueError(f"bound and reference must be finite and different (the margin is a share of their "
                         f"distance), got {bound} and {reference}")
    direction = 1.0 if op.startswith(">") else -1.0
    return direction * (value - bound) / abs(bound - reference)


def check(name: str, value: object, op: str, bound: object, *, reference: object = 0.0) -> None:
    """Assert ``value op bound`` (``op`` one of ``>``, ``>=``, ``<``, ``<=``) and record it.

    ``name``: what is measured, in words a student reads when the claim fails. ``value`` and ``bound``:
    numbers (a one-element tensor is accepted). ``reference``: the value expected if the claim were false
    (chance, untrained, baseline; default 0); it must lie on the failing side of ``bound``. Raises ``AssertionError`` naming
    the claim, the value and the bound when the claim fails (a NaN value fails), and ``ValueError`` /
    ``TypeError`` for a malformed check.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string that says what is measured")
    if op not in OPERATORS:
        raise ValueError(f"op must be one of {OPERATORS}, got {op!r}; an exact equality is not a claim about a "
                         "measurement (use a plain assert for invariants)")
    value_f = _number(value, "value")
    bound_f = _number(bound, "bound")
    reference_f = _number(reference, "reference")
    if not (math.isfinite(bound_f) and math.isfinite(reference_f)):
        raise ValueError(f"bound and reference must be finite, got {bound_f} and {reference_f}")
    if (reference_f >= bound_f) if op.startswith(">") else (reference_f <= bound_f):
        side = "below" if op.startswith(">") else "above"
        raise ValueError(f"reference ({reference_f:g}) must lie {side} the bound ({bound_f:g}) for {op!r}: it is the "
                         "value expected if the claim were false, and the margin is measured against the distance "
                         "between the two")
    passed = {">": value_f > bound_f, ">=": value_f >= bound_f, "<": value_f < bound_f,
              "<=": value_f <= bound_f}[op]  # False for NaN
    record = {"name": name, "value": value_f, "op": op, "bound": bound_f, "reference": reference_f,
              "passed": bool(passed), "margin": (value_f - bound_f) * (1 if op.startswith(">") else -1),
              "relative_margin": relative_margin(value_f, op, bound_f, reference_f)}
    target = os.environ.get(CLAIMS_FILE_VARIABLE)
    if target:
        with Path(target).open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, allow_nan=True) + "\n")
    if not passed:
        raise AssertionError(f"claim not met: {name}: measured {value_f:.4g}, expected {op} {bound_f:.4g} "
                             f"(if the claim were false: about {reference_f:.4g})")
