"""An ordered map over forked processes, for commands that handle many items.

Why: ``hpscale check`` with a thousand targets and ``hpscale ladder`` with a thousand rows spend
most of their time in per-item Python work (YAML, the rules, JSON) that one process cannot make
much cheaper. ``os.fork`` children inherit the loaded modules and the proxy, so they start in
about a millisecond; the items are split into contiguous chunks, this process computes the first
chunk itself, and each child sends its results back pickled through a pipe. Results come back in
input order, and the first error in input order is raised, exactly as a sequential loop would.
Below ``PARALLEL_MIN_ITEMS`` items, or where ``fork`` does not exist, everything runs here.
(``concurrent.futures`` would do the same with an import, queues and threads that cost more
than they save at this size.)
"""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import InputError

#: Below this many items forking costs more than it saves.
PARALLEL_MIN_ITEMS = 200

T = TypeVar("T")
R = TypeVar("R")

def worker_count(jobs: int, items: int) -> int:
    """Processes for ``items`` items: ``jobs`` ≥ 1 as given (at most one per item); 0 means
    automatic: one per CPU from ``PARALLEL_MIN_ITEMS`` items on where ``fork`` exists, else 1."""
    if jobs < 0:
        raise InputError(f"--jobs: {jobs}: must be ≥ 0 (0 = automatic)")
    if jobs == 0:
        if items < PARALLEL_MIN_ITEMS or not hasattr(os, "fork"):
            return 1
        jobs = os.cpu_count() or 1
    return max(1, min(jobs, items))


def ordered_map(
    func: Callable[[Any, T], R], items: Sequence[T], workers: int, shared: Any
) -> list[R]:
    """``[func(shared, item) for item in items]``, computed by ``workers`` processes when > 1.

    Children inherit ``shared`` through fork (it is never pickled); each result must be
    picklable.
    """
    # The per-item data is acyclic and freed by reference counting, yet allocating ~10⁵ small
    # objects per thousand items triggers repeated cyclic-GC passes: pause the collector.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _map(func, items, workers, shared)
    finally:
        if collecting:
            gc.enable()


def _map(func: Callable[[Any, T], R], items: Sequence[T], workers: int, shared: Any) -> list[R]:
    if workers <= 1 or len(items) < 2 or not hasattr(os, "fork"):
        return [func(shared, item) for item in items]
    size = -(-len(items) // workers)
    chunks = [items[start:start + size] for start in range(0, len(items), size)]
    children: list[tuple[int, int]] = []
    try:
        for chunk in chunks[1:]:
            children.append(_fork(func, chunk, shared))
        results = [func(shared, item) for item in chunks[0]]
        for pid, read_fd in children:
            with os.fdopen(read_fd, "rb") as stream:
                payload = stream.read()
            _, wait_status = os.waitpid(pid, 0)
            if not payload:  # the child died before it could answer (a crash, or a kill)
                raise RuntimeError(f"worker process {pid} died ({_describe(wait_status)}) before "
                                   "returning its results")
            status, value = pickle.loads(payload)
            if status == "error":
                raise value
            results.extend(value)
        children.clear()
        return results
    finally:
        for pid, read_fd in children:  # only after an error: stop and reap what is left
            try:
                os.close(read_fd)
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by signal {os.WTERMSIG(wait_status)}"
    return f"exit status {os.WEXITSTATUS(wait_status)}" if os.WIFEXITED(wait_status) else "unknown status"


def _fork(func: Callable[[Any, T], R], chunk: Sequence[T], shared: Any) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    # Child: compute, send, and leave with os._exit (no atexit hooks, no flushing the
    # parent's copied stdout buffer).
    os.close(read_fd)
    code = 0
    try:
        try:
            payload = pickle.dumps(("ok", [func(shared, item) for item in chunk]), pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 — handed to the parent, which raises it
            try:
                payload = pickle.dumps(("error", exc), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 — an exception that cannot be pickled
                payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        with os.fdopen(write_fd, "wb") as stream:
            stream.write(payload)
    except BaseException:  # noqa: BLE001 — the parent sees a truncated pipe and fails loudly
        code = 1
    finally:
        os._exit(code)
