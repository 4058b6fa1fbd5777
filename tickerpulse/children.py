"""Child processes that never outlive the parent that started them.

Two mechanisms, both needed:

- :func:`stop_on_sigterm` turns SIGTERM and SIGHUP (``kill``, ``docker stop``, systemd, a
  closed terminal) into :class:`SystemExit` in the main thread, so the parent's ``finally``
  blocks run and stop its children in order, exactly as Ctrl-C does. A stop on request that
  cleans up is a success: the exit status is 0.
- :func:`die_with_parent` (a ``preexec_fn``) asks Linux to send the child SIGTERM when the
  parent dies without cleaning up (SIGKILL, a crash): no orphan keeps a port or a consumer
  group membership. A no-op where ``prctl`` is unavailable.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for subprocess.Popen: SIGTERM this child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        pass


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds the main thread; the finally blocks stop the children


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP unwind the main thread like Ctrl-C does."""
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
