"""Device names from configs and command lines, checked before any work: `tpu` is an error, not the CPU."""
from __future__ import annotations

import re
from typing import Optional

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: Optional[str], allow_auto: bool = True) -> Optional[str]:
    """`name` when it is cpu, cuda, cuda:N, mps (or auto / None); ValueError otherwise. Does not import torch."""
    if name is None:
        return None
    if not _DEVICE.match(name) or (name == "auto" and not allow_auto):
        choices = "auto, cpu, cuda, cuda:N or mps" if allow_auto else "cpu, cuda, cuda:N or mps"
        raise ValueError(f"device {name!r} is not one this package runs on; choose {choices}")
    return name


def check_device(name: Optional[str], allow_auto: bool = True) -> Optional[str]:
    """`check_device_name`, and the device must exist on this machine (a visible GPU for cuda:N)."""
    check_device_name(name, allow_auto)
    if name in (None, "auto", "cpu"):
        return name
    import torch
    if name.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= n:
            raise ValueError(f"device {name!r}: {'no CUDA device is visible' if n == 0 else f'only {n} CUDA device(s)'}"
                             f" on this machine; use {'cpu' if n == 0 else f'cuda:0 .. cuda:{n - 1}'}")
    elif name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' is not available on this machine; use cpu")
    return name
