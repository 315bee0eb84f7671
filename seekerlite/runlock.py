"""A run folder belongs to one process at a time: ``RunLock`` refuses a second one, and takes over a dead one's lock.

    with RunLock("runs/x"):          # RunLockedError if another live process holds runs/x
        run_pipeline(cfg, "runs/x")   # (run_pipeline takes the lock itself; it is re-entrant within a process)

Two ``pipeline run``s appending to the same stage files would write every record twice, and two trainings in one
folder would mix their checkpoints; so every command that writes a run folder (``pipeline run``/``step``/
``--restart``, ``sft``, ``grpo``, ``eval``, ``demo``) holds ``<run>/.lock`` while it works.

How: the lock is an advisory ``flock`` on ``<run>/.lock``, which also holds the holder's pid, host, command and
start time (for the message a refused process prints). The kernel drops a flock when its process dies, however it
dies (kill -9 included), so a lock file left by a killed run is *stale*: the next process gets the flock at once,
sees the dead pid in the file, logs that it takes the lock over, and goes on (resuming the run). The holder
deletes the file when it is done; a process that locked a file being deleted at that moment notices (the path no
longer names the file it locked) and locks afresh. Without ``fcntl`` (Windows) the file is created exclusively and
a lock whose pid is not running is taken over.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: exclusive creation + pid check
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"  # inside the run folder
log = logging.getLogger(__name__)
_held: dict[str, list[Any]] = {}  # resolved run folder -> [open fd or None, depth, folders created]: re-entrant
_guard = threading.Lock()


def distributed_rank() -> int:
    """This process's rank in a torch.distributed launch (``RANK``, set by torchrun / ``accelerate launch``), else 0."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


class RunLockedError(RuntimeError):
    """Another live process is working in this run folder."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: assume alive
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _holder_text(info: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"])) if "started" in info else "?"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {when}: {info.get('command', '?')}"


class RunLock:
    """Hold `run_dir` for this process (a context manager; see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.took_over: dict[str, Any] | None = None  # the dead holder's record, when a stale lock was taken over

    def _key(self) -> str:
        return os.path.realpath(self.run_dir)

    def acquire(self) -> RunLock:
        """Take the lock, or raise RunLockedError naming the live holder (NotADirectoryError: the run is a file)."""
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "the run folder is a file, not a folder", str(self.run_dir))
        created, up = [], self.run_dir.absolute()
        while not up.exists():  # the folders this lock creates (deepest first): removed again if left empty
            created.append(up)
            up = up.parent
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if distributed_rank() > 0:  # one job on many processes (accelerate/torchrun): its rank 0 holds the lock
            return self
        with _guard:
            if self._key() in _held:
                _held[self._key()][1] += 1
                return self
            fd = self._lock_flock() if fcntl is not None else self._lock_exclusive()
            _held[self._key()] = [fd, 1, created]
        return self

    def _me(self) -> bytes:
        cmd = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                           "command": cmd}).encode()

    def _refuse(self, info: dict[str, Any]) -> RunLockedError:
        return RunLockedError(f"{self.run_dir} is in use by another seekerlite process ({_holder_text(info)}); "
                              f"wait for it to finish or use another --out (lock: {self.path})")

    def _note_stale(self, before: dict[str, Any]) -> None:
        if before.get("pid") not in (None, os.getpid()):
            self.took_over = before
            log.warning("%s: taking over the lock of a run that is no longer running (%s)", self.run_dir,
                        _holder_text(before))

    def _lock_flock(self) -> int:
        for _ in range(20):  # retried only when the file was deleted under us by a finishing holder
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._refuse(_read(self.path)) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self._note_stale(_read(self.path))
            os.ftruncate(fd, 0)
            os.write(fd, self._me())
            os.fsync(fd)
            return fd
        raise RunLockedError(f"{self.path}: could not take the lock (it keeps being replaced)")

    def _lock_exclusive(self) -> None:
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                before = _read(self.path)
                if isinstance(before.get("pid"), int) and _pid_alive(before["pid"]):
                    raise self._refuse(before) from None
                self._note_stale(before)
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, self._me())
            os.close(fd)
            return
        raise RunLockedError(f"{self.path}: could not take the lock (it keeps being replaced)")

    def release(self) -> None:
        """Give the lock back (the outermost release deletes the lock file)."""
        with _guard:
            entry = _held.get(self._key())
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[self._key()]
            self.path.unlink(missing_ok=True)  # first: a waiter that locked this file will see it is gone
            if entry[0] is not None:
                os.close(entry[0])
            for folder in entry[2]:  # a run refused before it wrote anything leaves no empty folder behind
                try:
                    folder.rmdir()
                except OSError:
                    break

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
