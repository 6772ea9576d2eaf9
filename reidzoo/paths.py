"""Paths read from data files (annotations, tracklets.jsonl, list files) stay inside their declared root.

An entry like `../../etc/passwd` or `/home/x/img.jpg` in a downloaded or generated data file would
otherwise be opened, trained on and copied into the next stage's files. The check is lexical, on
the text the file holds (no file system access, so millions of entries take a moment): an entry
must be relative and must not climb above the root with `..`. Absolute entries are accepted only
with an explicit opt-in (`allow_absolute=True`, e.g. `--allow-absolute-paths`). Symbolic links
inside the root are the user's own choice and are followed as usual.
"""
from __future__ import annotations

import ntpath
import os
import posixpath
from pathlib import Path
from typing import Iterable, Optional, Union

PathLike = Union[str, os.PathLike]
OPT_IN = "--allow-absolute-paths"


class PathOutsideRootError(ValueError):
    """A data file names a path outside its root; the message names the file and the entry."""


def escapes_root(entry: str, allow_absolute: bool = False) -> bool:
    """True when `entry` is absolute (unless allowed) or its `..` parts climb above the root."""
    if not entry:
        return True
    if posixpath.isabs(entry) or ntpath.isabs(entry) or ntpath.splitdrive(entry)[0]:
        return not allow_absolute
    if ".." not in entry:  # the common case, without normalising
        return False
    norm = posixpath.normpath(entry.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


def outside_root_error(where: str, entry: str, opt_in: Optional[str] = None) -> PathOutsideRootError:
    """The one-line error for an `entry` found at `where` (e.g. 'annos.json entry 7', 'list.txt:12');
    `opt_in` names the flag that accepts absolute paths, where there is one."""
    absolute = posixpath.isabs(entry) or ntpath.isabs(entry)
    hint = f"; absolute paths need {opt_in}" if absolute and opt_in else ""
    return PathOutsideRootError(f"{where}: {entry!r} is outside its root (paths must be relative to it, "
                                f"without '..' climbing out){hint}")


def check_inside_root(entries: Iterable[str], source: str, allow_absolute: bool = False,
                      opt_in: Optional[str] = OPT_IN) -> None:
    """PathOutsideRootError naming the first entry of `source` that escapes its root (by index)."""
    for k, entry in enumerate(entries):
        if escapes_root(str(entry), allow_absolute):
            raise outside_root_error(f"{source} entry {k}", str(entry), None if allow_absolute else opt_in)


def join_inside(root: PathLike, entry: str, where: str) -> Path:
    """`root / entry` after checking that `entry` (found at `where`, a file without an opt-in for absolute
    paths) stays inside `root`."""
    if escapes_root(entry):
        raise outside_root_error(where, entry)
    return Path(root) / entry
