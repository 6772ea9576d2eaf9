"""argparse `type=` checkers, so a bad number or device is a usage error (exit 2) before any work starts."""
from __future__ import annotations

import argparse
from typing import Callable, Optional


def number(kind: type = int, minimum: Optional[float] = None, maximum: Optional[float] = None,
           above: Optional[float] = None) -> Callable[[str], float]:
    """A parser for an int/float with bounds: `minimum <= v <= maximum`, `v > above`."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if v != v:  # NaN passes every comparison below
            raise argparse.ArgumentTypeError("NaN is not a value")
        if minimum is not None and v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        if maximum is not None and v > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}, got {text}")
        if above is not None and not v > above:
            raise argparse.ArgumentTypeError(f"must be > {above}, got {text}")
        return v
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = number(int, minimum=1)
non_negative_int = number(int, minimum=0)
positive_float = number(float, above=0)
fraction = number(float, minimum=0, maximum=1)


def device(text: str) -> str:
    """cpu, cuda, cuda:N or mps (present on this machine)."""
    from reidzoo.devices import check_device
    try:
        return check_device(text, allow_auto=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
