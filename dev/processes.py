"""Child processes that do not outlive the process that started them."""
from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A Popen preexec_fn: on Linux, the kernel sends the child SIGTERM when its parent dies, even by SIGKILL.

    The dev run starts each part in a session of its own (so a Ctrl-C reaches them in order, from the
    devserver); without this, a devserver killed outright would leave Redis, the worker and gunicorn running.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
