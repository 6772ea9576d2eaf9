#!/usr/bin/env python
"""`make demo`: the most complete real job the project can run end to end.

Runs the quickstart (synthetic world -> mining -> denoising -> CION pre-training -> fine-tuning ->
evaluation) when it is available; until then: lists the zoo, converts a ReIDZoo release
checkpoint fixture into a hub folder, loads it with reidzoo.load and embeds images.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def main() -> int:
    quick = ROOT / "tools" / "quickstart.py"
    if quick.exists():
        import runpy
        sys.argv = [str(quick)] + sys.argv[1:]
        runpy.run_path(str(quick), run_name="__main__")
        return 0
    import numpy as np
    import torch

    import reidzoo
    from reidzoo.convert import convert_release

    import zoo
    zoo.main(["list"])
    fixtures = ROOT.parent / "shared" / "fixtures" / "reidzoo_release"
    out = ROOT / "runs" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(fixtures))
    import make_checkpoint as mc
    name = "convnext_tiny"
    src = out / f"{name}.release.pth"
    mc.write_release_checkpoint(mc.load_manifest(fixtures / f"{name}.manifest.json"), "public", src)
    hub = convert_release(src, name, out / name, overwrite=True)
    model = reidzoo.load(hub)
    x = torch.from_numpy(np.load(fixtures / "input.npy"))
    t0 = time.time()
    feats = reidzoo.extract_features(model, x, normalize=True, progress=False)
    expected = np.load(fixtures / f"{name}.public.expected.npy")
    with torch.no_grad():
        err = np.abs(model(x).numpy() - expected).max()
    print(f"\n{name}: release checkpoint -> hub folder {hub} -> reidzoo.load -> features {feats.shape} "
          f"in {time.time() - t0:.2f}s; max |diff| to the original implementation: {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
