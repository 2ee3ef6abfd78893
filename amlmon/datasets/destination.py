"""Where a dataset goes: its format (from --format or the file name) and whether --out can be written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from amlmon.errors import UsageError

FORMATS = ("parquet", "jsonl", "csv")


def _format_of_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("parquet", "pq"):
        return "parquet"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "csv":
        return "csv"
    return None


def format_for(path: Path, explicit: str | None = None) -> str:
    """The output format from --format or the file's extension; the two must agree when both name one
    (a `x.jsonl` holding Parquet is a file every reader opens wrongly)."""
    named = _format_of_suffix(path)
    if explicit:
        if explicit not in FORMATS:
            raise UsageError(f"unknown format {explicit!r}", hint=f"use one of {', '.join(FORMATS)}")
        if named is not None and named != explicit:
            raise UsageError(
                f"--format {explicit} does not match --out {str(path)!r} (a {named} file name)",
                hint=f"drop --format (the extension decides) or name the file {path.stem}.{explicit}",
            )
        return explicit
    if named is not None:
        return named
    raise UsageError(
        f"cannot tell the format of {str(path)!r} from its extension",
        hint="name the file .parquet, .jsonl or .csv (or pass --format)",
    )


def check_destination(path: Path, *, overwrite: bool, resume: bool = False) -> None:
    """Refuse, before any work, an --out that would lose a file or cannot be written: a folder, a file
    that exists (unless `overwrite`, or `resume` continues an interrupted run to it), a folder that is
    missing or not writable (probed by creating a hidden file there: permission bits say nothing for
    root, nor for /proc)."""
    refuse_special_file(path, "--out", "./models.parquet")
    if path.is_dir():
        raise UsageError(
            f"--out {str(path)!r} is a folder", hint=f"give a file name, e.g. --out {path / 'models.parquet'}"
        )
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(
            f"cannot write --out {str(path)!r}: {str(path.parent)!r} is not a folder",
            hint=f"choose --out in a folder you can write to, e.g. --out ./{path.name}",
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"folder {str(path.parent)!r} does not exist", hint="create it or choose another --out"
        )
    if path.exists() and not overwrite and not (resume and _saved_parts(path)):
        # --resume with nothing saved is a new run: the file is the user's, not an interrupted run's
        nothing = ", and --resume has nothing to resume (no interrupted run to it)" if resume else ""
        raise UsageError(
            f"--out {str(path)!r} already exists{nothing}",
            hint="pass --overwrite to replace it, or choose another --out",
        )
    _check_name_length(path)
    import tempfile

    try:  # a short name: the name's own length is checked above
        handle, probe = tempfile.mkstemp(prefix=".amlmon-", suffix=".probe", dir=path.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write --out {str(path)!r}: {why_not_writable(path.parent, exc)}",
            hint=f"choose --out in a folder you can write to, e.g. --out ./{path.name}",
        ) from None
    os.close(handle)
    os.unlink(probe)


def refuse_special_file(path: Path, option: str, example: str) -> None:
    """Refuse a --out that exists and is no regular file (/dev/null, /dev/stdout, a named pipe, a socket):
    amlmon writes a temp file beside it and renames it over, which would put a plain file in the place of
    the device or link — with --overwrite, as root, /dev/null itself. A symlink through /dev or /proc
    (/dev/stdout → /proc/self/fd/1) is refused whatever stdout is at the moment; so is `-`, the shell's
    spelling of stdout (a file named `-` would appear). A folder is left to the caller's own words."""
    import stat

    if str(path) == "-":
        raise UsageError(
            f"{option} - (stdout) is not supported: amlmon writes a file beside its name and renames it into "
            "place when complete",
            hint=f"give a file name, e.g. {option} {example}, and read it from there",
        )
    try:
        mode = path.stat().st_mode  # through a symlink: what it points at
    except OSError:
        return  # not there (or a dangling link): a new file is written, nothing is replaced
    if stat.S_ISDIR(mode):
        return  # a folder: refused by the caller in its own words
    if stat.S_ISREG(mode) and not _links_through_system(path):
        return  # a file, replaced only with --overwrite
    kinds = {
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((text for test, text in kinds.items() if test(mode)), "a link to a stream (/dev, /proc)")
    raise UsageError(
        f"{option} {str(path)!r} is {kind}, not a regular file: amlmon writes a new file and renames it "
        f"over {option}, which would replace it",
        hint=f"give the name of a regular file, e.g. {option} {example}, and read it from there",
    )


def _links_through_system(path: Path) -> bool:
    """Whether `path` is a symlink whose chain passes through /dev or /proc (/dev/stdout, /dev/fd/1)."""
    seen = 0
    current = path
    while current.is_symlink() and seen < 40:
        target = Path(os.readlink(current))
        current = target if target.is_absolute() else current.parent / target
        parts = Path(os.path.abspath(current)).parts
        if parts[1:2] == ("proc",) or (parts[1:2] == ("dev",) and parts[2:3] != ("shm",)):  # /dev/shm: files
            return True
        seen += 1
    return False


# The longest name a run keeps beside --out: its parts folder (amlmon/datasets/output.py).
_BESIDE = ".{}.amlmon-parts"


def _check_name_length(path: Path) -> None:
    """Refuse a name whose hidden parts folder the file system cannot name (the name itself may fit)."""
    try:
        limit = int(os.pathconf(path.parent, "PC_NAME_MAX"))
    except (OSError, ValueError):
        limit = 255
    over = len(os.fsencode(_BESIDE.format(path.name))) - limit
    if over > 0:
        raise UsageError(
            f"--out {str(path)!r}: its name is too long by {over} byte{'s' if over > 1 else ''} (amlmon keeps "
            f"{_BESIDE.format('NAME')} beside it, and the folder's names end at {limit} bytes)",
            hint=f"give a name of at most {len(os.fsencode(path.name)) - over} bytes",
        )


def _saved_parts(out: Path) -> bool:
    """Whether an interrupted run to `out` saved parts that --resume continues (DatasetOutput's
    checkpoint)."""
    try:
        checkpoint = json.loads(
            out.with_name(f".{out.name}.amlmon-parts").joinpath("checkpoint.json").read_text()
        )
        return bool(checkpoint["parts"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def why_not_writable(folder: Path, exc: OSError) -> str:
    """The reason a new file cannot be made in `folder`, in the user's terms: the OS's bare strerror
    misleads (/proc answers "No such file or directory" for a folder that plainly exists)."""
    import errno

    reasons = {
        errno.ENOENT: "accepts no new files (a virtual file system such as /proc or /sys)",
        errno.EACCES: "is not writable (permission denied)",
        errno.EPERM: "is not writable (permission denied)",
        errno.EROFS: "is on a read-only file system",
        errno.ENOSPC: "has no space left on its device",
        errno.EDQUOT: "is over its disk quota",
    }
    reason = reasons.get(exc.errno or 0, f"is not writable ({exc.strerror or exc})")
    return f"folder {str(folder)!r} {reason}"
