"""Faults a user must act on: reported by ``src/run.py`` as one line, without a traceback.

Exit statuses (also in README): 2 bad input or an unwritable/full run folder (fix it and rerun),
3 the run folder belongs to another live process, 4 the run diverged. A run stopped by SIGUSR1/2 or
SIGTERM exits 128 + the signal number after its checkpoint, unless submitit requeues it first.
"""

from __future__ import annotations


class RunError(Exception):
    """A fault with its own exit status; its message is the whole report."""

    exit_code = 1


class BadInputError(RunError):
    """Something the user gave or set up cannot work: a config value, a folder, a full disk."""

    exit_code = 2
