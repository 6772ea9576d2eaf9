"""Register the zoo architectures timm lacks as soon as timm is imported, without importing it here.

`import reidzoo` stays cheap (no torch, no timm), yet `timm.create_model("resnet50_ibn_a")` and
`timm.create_model("local-dir:...")` work after it: a one-shot import hook runs the registration
right after timm's own `__init__` has finished, or at once when timm is already imported.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings


def register_zoo_architectures() -> None:
    """Import every model family; each registers with timm the architectures timm lacks (idempotent)."""
    from .models import families
    # import_module, not families.all_specs(): when a family module's own `import timm` set this
    # off, that module is only partly run (it registers itself once timm is back), and
    # import_module returns it as it is where reading its SPECS would fail.
    for mod in families.FAMILY_MODULES:
        importlib.import_module(f"{families.__name__}.{mod}")


class _AfterTimmImport:
    """A meta path finder that finds nothing itself: it wraps timm's loader so registration follows."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)  # one shot; the lookup below then skips this finder
        spec = importlib.util.find_spec("timm")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_timm = loader.exec_module

        def exec_module(module):
            exec_timm(module)
            del loader.exec_module  # back to the class's method, e.g. for importlib.reload
            try:
                register_zoo_architectures()
            except Exception as exc:  # timm itself imported fine; do not break it for its other users
                warnings.warn(f"reidzoo could not register its architectures with timm: {exc!r}")

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register now if timm is already imported, else once timm's import completes."""
    if "timm" in sys.modules:
        register_zoo_architectures()
    elif not any(isinstance(f, _AfterTimmImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTimmImport())
