"""One path policy: how ids and names become file names, and the rule that nothing is written outside a run folder.

    file_name("cam1/clip3")                  # 'cam1%2Fclip3'  (injective: "x/y" and "x_y" never collide)
    name_of(file_name("cam1/clip3"))         # 'cam1/clip3'    (the way back)
    inside(run, "prompts", file_name(id) + ".png")   # run/prompts/..., or PathEscapeError if it would leave `run`

Every file name built from data (a sample id, a source name, a task, a policy name) goes through ``file_name``;
every path a step writes under its run folder is built with ``inside``. ``file_name`` keeps ``[A-Za-z0-9_-]`` and
a ``.`` that does not start the name, and writes every other byte of the UTF-8 text as ``%XX`` (``%`` itself
included), so the result is ASCII, contains no separator, is never ``.``/``..``/empty, and two different names
never give the same file name. Names whose escaped form would pass ``MAX_NAME`` characters are cut and end in a
hash of the whole name (still distinct; ``name_of`` cannot invert those). File systems that ignore case (macOS,
Windows) can still merge names that differ only in case; seekerlite's ids are case-sensitive on Linux.

`writing(path)` names the file in an ``OSError`` raised while writing it (a full disk reports no file name).
"""

from __future__ import annotations

import errno
import hashlib
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_NAME = 160  # characters of an escaped name before it is cut and hashed (file systems allow 255 bytes)
_KEEP = frozenset(string.ascii_letters + string.digits + "_-.")
_HEX = "0123456789ABCDEF"


class PathEscapeError(ValueError):
    """A path built from data would lie outside the folder it must stay in."""


def file_name(name: str) -> str:
    """`name` as one safe file-name component (see the module docstring); injective and never empty.

    >>> file_name("x/y"), file_name("x_y"), file_name("../../etc"), file_name("")
    ('x%2Fy', 'x_y', '%2E.%2F..%2Fetc', '%')
    """
    if not isinstance(name, str):
        raise TypeError(f"file_name() needs a str, got {type(name).__name__}")
    if name == "":
        return "%"  # the empty name: "%" alone is no escape of anything else
    out = []
    for i, ch in enumerate(name):
        if ch in _KEEP and not (ch == "." and i == 0):
            out.append(ch)
        else:
            out.extend(f"%{_HEX[b >> 4]}{_HEX[b & 15]}" for b in ch.encode("utf-8", "surrogatepass"))
    escaped = "".join(out)
    if len(escaped) <= MAX_NAME:
        return escaped
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    head = escaped[:MAX_NAME - 22]
    head = head[:head.rfind("%")] if "%" in head[-2:] else head  # never cut an escape in half
    return f"{head}~~{digest}"


def name_of(escaped: str) -> str:
    """The name `file_name` made `escaped` from (not for cut, hashed names).

    >>> name_of("x%2Fy"), name_of("%")
    ('x/y', '')
    """
    if escaped == "%":
        return ""
    if "~~" in escaped:  # "~" is always escaped, so only a cut name holds it
        raise ValueError(f"{escaped!r} is a cut, hashed name: the original cannot be recovered from it")
    raw, i = bytearray(), 0
    while i < len(escaped):
        if escaped[i] == "%":
            raw.append(int(escaped[i + 1:i + 3], 16))
            i += 3
        else:
            raw += escaped[i].encode("ascii")
            i += 1
    return raw.decode("utf-8", "surrogatepass")


def inside(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """``root / parts...``, refused (PathEscapeError) when it would resolve outside `root` (``..``, an absolute
    part, a symlink pointing out). The path need not exist.

    >>> str(inside("runs/x", "prompts", "a.png"))
    'runs/x/prompts/a.png'
    """
    base = Path(root)
    path = base.joinpath(*parts)
    real_base, real = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base:
        raise PathEscapeError(f"{path} would lie outside {base} (built from {[str(p) for p in parts]})")
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """`path` as a file a command can write (its folder created), checked before the work that produces it: an
    existing folder, a parent that is a file, or a folder this process may not write raise an OSError naming it."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; want a file name", str(p))
    parent = p.parent
    for up in (parent, *parent.parents):
        if up.exists():
            if not up.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(up))
            break
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise PermissionError(errno.EACCES, "Permission denied", str(p if p.exists() else parent))
    return p


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an ``OSError`` that carries no file name (ENOSPC, EIO on write/close) with `path` in it."""
    try:
        yield
    except OSError as e:
        if e.filename is not None:
            raise
        code = e.errno if e.errno is not None else errno.EIO
        raise OSError(code, f"{e.strerror or e} (while writing)", str(path)) from e


CLI_ERRORS = (OSError, ValueError, RuntimeError, ImportError, RecursionError, MemoryError)
"""What a command line turns into one ``error: ...`` line: files and disks (OSError), bad records and configs
(ValueError: SchemaError, ConfigError, RunMismatchError), broken videos and busy run folders (RuntimeError:
VideoError, RunLockedError), a missing optional package, and input too deep or too large to process."""


DEBUG_ENV = "SEEKERLITE_DEBUG"  # set (to "1") by ``seekerlite --debug``: commands re-raise instead of printing


def report_error(e: BaseException) -> int:
    """Print ``error: <error_line(e)>`` to stderr and return exit code 2; under ``--debug`` (``DEBUG_ENV`` set),
    re-raise `e` so that its traceback shows. Call it from an ``except CLI_ERRORS`` block."""
    if os.environ.get(DEBUG_ENV):
        raise e
    import sys

    print(f"error: {error_line(e)}", file=sys.stderr)
    return 2


def error_line(e: BaseException) -> str:
    """The message a command prints for `e`: an OSError as "<file>: <what>" (the file first, as every message's
    first line names the file), anything else as its text (its type when it has none).

    >>> error_line(FileNotFoundError(2, "No such file or directory", "x.json"))
    'x.json: No such file or directory'
    """
    if isinstance(e, OSError) and e.filename is not None:
        other = f" -> {e.filename2}" if e.filename2 is not None else ""
        return f"{e.filename}{other}: {e.strerror or e}"
    if isinstance(e, RecursionError):
        return f"input nested too deeply to process ({e})"
    if isinstance(e, MemoryError):
        return "out of memory (input too large?)"
    return str(e) or type(e).__name__
