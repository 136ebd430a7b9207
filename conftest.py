"""Test configuration for the whole repository (unit tests and nbval notebook runs).

Fast mode is switched on here, before any notebook kernel starts, so kernels inherit it. An explicit
``COURSE_FAST_MODE=0 pytest notebooks`` runs the notebooks in full mode instead.
"""

import os

os.environ.setdefault("COURSE_FAST_MODE", "1")
