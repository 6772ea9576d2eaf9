"""Converting an original ReIDZoo release checkpoint into a hub folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .atomic import check_new_dir
from .cards import Provenance
from .hub import save_hub_folder
from .loading import load_weights_into
from .models.registry import create_model, get_spec
from .models.release import release_backbone_state_dict, torch_load_safely


def convert_release(src: os.PathLike, name: Optional[str], out_dir: os.PathLike,
                    overwrite: bool = False) -> Path:
    """Read a release .pth (teacher backbone), check it against `name`, write a hub folder."""
    src = Path(src)
    check_new_dir(out_dir, overwrite)  # before reading a checkpoint of hundreds of MB
    if name is not None:
        get_spec(name)
    if name is None:
        _, meta = release_backbone_state_dict(torch_load_safely(src), str(src))
        name = meta.get("arch")
        if name is None:
            raise ValueError(f"{src} does not name its architecture (no args.arch): pass --name")
    model = create_model(name)
    load_weights_into(model, name, src)
    return save_hub_folder(model.eval(), name, out_dir, overwrite=overwrite,
                           provenance=Provenance.release(src.name))
