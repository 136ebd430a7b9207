"""Test configuration for the whole repository (unit tests and nbval notebook runs).

Fast mode is switched on here, before any notebook kernel starts, so kernels inherit it. An explicit
``COURSE_FAST_MODE=0 pytest notebooks`` runs the notebooks in full mode instead.

``pytest`` runs in parallel (pytest-xdist, one worker per CPU core, a test file or notebook per worker at a
time). Each worker, and every notebook kernel it starts, computes with one torch thread: two workers with
two threads each on two cores would wait on each other's threads and run many times slower. The
notebooks' claims hold with one thread and with two (``python -m helpers.margins``).
"""

import os

os.environ.setdefault("COURSE_FAST_MODE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
