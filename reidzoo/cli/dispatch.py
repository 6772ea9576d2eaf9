"""The machinery behind the `reidzoo` and `cion` commands: one argparse subparser per subcommand.

A subcommand is a module with a docstring (its `--help` text, examples included), an
`add_arguments(parser)` function, a `run(args) -> int` function and optionally `ERRORS`, extra
exception types that mean "the input is wrong" (an entry may be a "module:Class" string, imported
only when an exception needs the check). Only the chosen subcommand's module is imported, so
`reidzoo --help` and every parser stay fast however heavy the libraries behind them are.

Errors (the same for every command, `exit_status`): a problem with the input or the options prints
one `error:` line and exits 2; a sound run that failed (disk full, Hub unreachable, loss diverged)
exits 1; anything else is a bug and shows its traceback. The project's own exceptions say which
they are with an `exit_code` class attribute. REIDZOO_DEBUG=1 shows the traceback of every error.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import pickle
import sys
import zipfile
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple, Union

# OSErrors that name a path the user gave; any other OSError (ENOSPC, EIO, a dropped connection) is a failed run
PATH_ERRORS: Tuple[type, ...] = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                                 PermissionError)


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, the module that implements it and a one-line summary."""

    name: str
    module: str
    summary: str


def error_message(exc: BaseException) -> str:
    """The message of an exception (a KeyError's without the repr quotes; an OSError's with its path)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def exit_status(exc: BaseException, extra: Tuple[type, ...] = ()) -> Optional[int]:
    """2: the input or the options are wrong; 1: a sound run failed; None: a bug (to be shown in full)."""
    code = getattr(type(exc), "exit_code", None)
    if code is not None:
        return int(code)
    if isinstance(exc, extra) or isinstance(exc, PATH_ERRORS):
        return 2
    if isinstance(exc, (OSError, MemoryError)) or type(exc).__name__ == "OutOfMemoryError":
        return 1
    # a corrupt or truncated file: bad JSON / text (ValueError), a broken .npz (BadZipFile, EOFError), pickle
    if isinstance(exc, (ValueError, KeyError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError)):
        return 2
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        return 2
    return None


def build_parser(prog: str, description: str, commands: Sequence[Command],
                 chosen: Optional[str] = None) -> argparse.ArgumentParser:
    """The top-level parser; only the `chosen` subcommand gets its arguments (and its import)."""
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    from importlib.metadata import PackageNotFoundError, version
    try:
        ver = version("cion-reidzoo")
    except PackageNotFoundError:  # run from a checkout that was never installed
        ver = "unknown"
    p.add_argument("--version", action="version", version=f"%(prog)s {ver}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands (`%s COMMAND --help` for each)" % prog)
    for c in commands:
        sp = sub.add_parser(c.name, help=c.summary, description=c.summary, formatter_class=argparse.RawDescriptionHelpFormatter)
        if c.name != chosen:
            continue
        mod = importlib.import_module(c.module)
        sp.description = mod.__doc__
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run, _errors=getattr(mod, "ERRORS", ()))
    return p


def run_cli(prog: str, description: str, commands: Sequence[Command],
            argv: Optional[Sequence[Union[str, os.PathLike, int, float]]] = None) -> int:
    """Parse `argv` (default sys.argv[1:]; paths and numbers become strings), run the subcommand,
    turn input errors into exit status 2 and failed runs into 1, each with one `error:` line."""
    argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in (sys.argv[1:] if argv is None else argv)]
    names = {c.name for c in commands}
    # The top level takes only -h/--version, so the first word that is not an option names the command.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(prog, description, commands, chosen if chosen in names else None).parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        return int(run(args) or 0)
    except Exception as exc:
        code = exit_status(exc, _resolve(args._errors))
        if code is None or os.environ.get("REIDZOO_DEBUG"):
            raise
        print(f"error: {error_message(exc)}", file=sys.stderr)
        return code


def _resolve(errors: Sequence[Union[type, str]]) -> Tuple[type, ...]:
    """Exception classes from classes and "module:Class" names."""
    out = []
    for e in errors:
        if isinstance(e, str):
            module, _, name = e.partition(":")
            e = getattr(importlib.import_module(module), name)
        out.append(e)
    return tuple(out)


def exit_with(code: int) -> None:
    """Leave the process with `code`, skipping the final garbage collection of every live object.

    That collection walks everything torch created (about 0.6 s, longer than evaluating
    Market-1501 from saved features); all output is written and closed by now.
    """
    gc.freeze()
    sys.exit(code)
