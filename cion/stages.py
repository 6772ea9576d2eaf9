"""The pipeline's stages, shared by the quickstart and the experiment.

synthetic world (videos, benchmark) -> mine -> denoise -> pretrain + export -> finetune -> evaluate.
Each stage writes one folder under a work folder; `Stages.run` skips a stage whose folder holds
its `stage.json` (written last, atomically, with the parameters, wall time and result), so an
interrupted stage never looks done. Stage parameters are plain data: the presets in
`cion/configs/*.yaml` (package data, read with importlib.resources) hold every size.
"""
from __future__ import annotations

import json
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from reidzoo.atomic import atomic_write_text

STAGE_FILE = "stage.json"


class StageError(ValueError):
    """A user-fixable problem: a missing preset, a work folder made with other parameters, a stage without output."""


# ------------------------------------------------------------------------------------------ presets

def _presets_dir():
    return resources.files("cion").joinpath("configs")


def preset_names(prefix: str = "") -> List[str]:
    """Names of the packaged presets (cion/configs/NAME.yaml) starting with `prefix`."""
    return sorted(p.name[:-5] for p in _presets_dir().iterdir() if p.name.endswith(".yaml")
                  and p.name.startswith(prefix))


def load_preset(name: str) -> Dict[str, Any]:
    """A packaged preset (a name) or a YAML file of one (a path ending in .yaml) as plain data.

    A missing one is an error naming the available presets, never an empty config.
    """
    res = Path(name) if name.endswith((".yaml", ".yml")) else _presets_dir().joinpath(f"{name}.yaml")
    if not res.is_file():
        raise StageError(f"no preset {name!r}: neither a YAML file nor one of the cion package's "
                         f"({', '.join(preset_names())})")
    data = yaml.safe_load(res.read_text())
    if not isinstance(data, dict):
        raise StageError(f"preset {name!r} must hold a mapping of settings")
    return data


# ------------------------------------------------------------------------------------------ the runner

def _plain(obj: Any) -> Any:
    """JSON round trip: tuples become lists, paths strings, so stored and new parameters compare equal."""
    return json.loads(json.dumps(obj, default=str))


def write_json(path: Path, data: Any) -> None:
    """JSON written under a temporary name, then renamed: readers never see half a file."""
    atomic_write_text(path, json.dumps(data, indent=2))


# knobs that change how fast a stage runs, not what it writes: left out of the parameters compared on a re-run
RUNTIME_KEYS = ("threads", "num_workers", "tensorboard", "batch_size_eval", "progress")


def result_params(params: Mapping[str, Any]) -> Dict[str, Any]:
    """`params` without the runtime knobs (RUNTIME_KEYS): what decides a stage's output."""
    return {k: v for k, v in params.items() if k not in RUNTIME_KEYS}


def stage_record(out: Path) -> Optional[Dict[str, Any]]:
    """The stage.json of a finished stage folder, or None when the stage has not finished."""
    f = Path(out) / STAGE_FILE
    return json.loads(f.read_text()) if f.is_file() else None


class Stages:
    """Runs stages in order: each one is timed, and skipped when its folder holds a stage.json."""

    def __init__(self, work: Path, log: Optional[Callable[[str], None]] = print):
        self.work, self.log = Path(work), log or (lambda _msg: None)
        self.times: Dict[str, Optional[float]] = {}
        self.records: Dict[str, Dict[str, Any]] = {}

    def run(self, name: str, out: Path, fn: Callable[[Path], Any], params: Any = None,
            resume: bool = False) -> Any:
        """fn(out) unless `out` finished with the same `params`; returns fn's (JSON-able) result.

        An unfinished `out` is deleted first, unless `resume` (fn continues what a killed run left).
        A finished `out` made with other params is an error, never silently reused.
        """
        out = Path(out)
        n = len(self.times) + 1
        params = _plain(params)
        done = stage_record(out)
        if done is not None:
            if done.get("params") != params:
                old = done.get("params") or {}
                diff = sorted(k for k in set(old) | set(params or {}) if old.get(k) != (params or {}).get(k)) \
                    if isinstance(old, dict) and isinstance(params, dict) else "all"
                raise StageError(f"{out} was made with other parameters (differs in {diff}); "
                                 f"use another work folder or start afresh")
            self.log(f"[{n}] {name}: already done ({self._rel(out)}), skipped")
            self.times[name] = None
            self.records[name] = done
            return done.get("result")
        if out.exists() and not resume:
            shutil.rmtree(out)  # what an interrupted run left: start clean
        out.mkdir(parents=True, exist_ok=True)
        self.log(f"\n[{n}] {name} ...")
        t0 = time.time()
        result = _plain(fn(out))
        wall = time.time() - t0
        record = {"stage": name, "params": params, "wall_s": round(wall, 1), "result": result}
        write_json(out / STAGE_FILE, record)
        self.times[name], self.records[name] = wall, record
        self.log(f"[{n}] {name}: {wall:.0f} s")
        return result

    def _rel(self, p: Path) -> str:
        try:
            return str(p.relative_to(self.work))
        except ValueError:
            return str(p)


# ------------------------------------------------------------------------------------------ world

def make_world_videos(out: Path, params: Mapping[str, Any], seed: int, progress: bool = True) -> Dict[str, Any]:
    """Synthetic surveillance videos with ground truth (reidzoo.data.synthetic.make_videos kwargs in params)."""
    from reidzoo.data.synthetic import make_videos
    make_videos(out, seed=seed, overwrite=True, progress=progress, **dict(params))
    return {"videos": len(list((out / "videos").glob("*")))}


def make_world_benchmark(out: Path, params: Mapping[str, Any], seed: int, progress: bool = True) -> Dict[str, Any]:
    """A Market-1501-format benchmark of people after the videos' (make_market_like kwargs in params)."""
    from reidzoo.data.synthetic import make_market_like
    make_market_like(out, seed=seed, overwrite=True, progress=progress, **dict(params))
    return {split: len(list((out / split).glob("*.jpg"))) for split in ("bounding_box_train", "query",
                                                                       "bounding_box_test")}


# ------------------------------------------------------------------------------------------ mining

def mine(out: Path, videos_root: Path, params: Mapping[str, Any], extra_videos: Sequence[Tuple[str, float]] = (),
         workers: int = 1, progress: bool = True) -> Dict[str, Any]:
    """cion.mining on the world's videos (+ `extra_videos`: (path, seconds) of real clips) into `out`.

    params: `detector` ("gt": the world's ground-truth boxes, or a cion.mining detector name),
    `stride`, and `filters` (FilterConfig fields). Finished videos are skipped, so a killed run resumes.
    """
    from cion.mining.pipeline import MiningConfig, mine_videos
    from cion.mining.tracklets import FilterConfig
    p = dict(params)
    filters = FilterConfig(**p.pop("filters", {}))
    real = dict(p)
    if p.get("detector") == "gt":
        from reidzoo.data.synthetic import gt_detections
        p.update(detector="file", detections=str(gt_detections(videos_root, out / "detections")))
        real["detector"] = "hog"  # a real clip has no ground truth: a real detector finds its people
    jobs = [([Path(videos_root) / "videos"], MiningConfig(filters=filters, **p))]
    # a real clip: only its first seconds (HOG costs ~0.15 CPU-s per 768x576 frame)
    jobs += [([Path(v)], MiningConfig(filters=filters, **{**real, "end_s": s})) for v, s in extra_videos]
    for inputs, cfg in jobs:
        summary = mine_videos(inputs, out, cfg, workers=workers, progress=progress)
        if summary.get("failed"):
            raise RuntimeError(f"mining failed for {summary['failed']}")
    jl = out / "tracklets.jsonl"
    rows = [json.loads(x) for x in jl.read_text().splitlines() if x.strip()] if jl.exists() else []
    if not rows:
        raise StageError(f"mining wrote no tracklets into {out}; a larger world (more frames, bigger people) "
                         f"is needed")
    return {"tracklets": len({(r["video"], r["tracklet"]) for r in rows}), "crops": len(rows)}


# ------------------------------------------------------------------------------------------ denoising

DENOISE_FEATURES = ("colour", "random")


def denoise(out: Path, mined: Path, params: Mapping[str, Any], model: str, seed: int, progress: bool = True,
            log: Optional[Callable[[str], None]] = print) -> Dict[str, Any]:
    """cion.denoise on the mined tracklets into out/annotations.json (CION-AL format).

    params: `features` ("colour": body-band colour histograms; "random": a random-init copy of
    `model`), `rounds`, `distance` (the merge distance d; None: calibrated from the data).
    """
    from cion.denoise import denoise_tracklet_folder, round_configs
    from reidzoo.baselines import COLOUR_HIST_NAME
    features, distance = params.get("features", "colour"), params.get("distance")
    rounds = round_configs(int(params.get("rounds", 1)), distance=[distance] if distance else None)
    if features == "colour":
        denoise_tracklet_folder(mined, out, models=[COLOUR_HIST_NAME], rounds=rounds, overwrite=True, log=log,
                                progress=progress)
    elif features == "random":
        import torch
        torch.manual_seed(seed)
        denoise_tracklet_folder(mined, out, models=[model], rounds=rounds, random_init=True, batch_size=32,
                                overwrite=True, log=log, progress=progress)
    else:
        raise StageError(f"unknown denoising features {features!r}; choose one of {', '.join(DENOISE_FEATURES)}")
    annos = json.loads((out / "annotations.json").read_text())
    return {"images": len(annos), "identities": len({a["id"] for a in annos})}


# ------------------------------------------------------------------------------------------ initialisations

def random_init(out: Path, model: str, seed: int) -> Dict[str, Any]:
    """The random initialisation (torch seed `seed`) as a hub folder, loadable like every other init."""
    import torch

    import reidzoo
    from reidzoo.cards import Provenance
    torch.manual_seed(seed)
    reidzoo.save_hub_folder(reidzoo.create_model(model).eval(), model, out / "hub", overwrite=True,
                            provenance=Provenance.random_init(seed))
    return {"hub": "hub"}


def pretrain_config(params: Mapping[str, Any], **run: Any):
    """A PretrainConfig from a preset's `pretrain` mapping plus the run's own keys (paths, seed, model, ...)."""
    from cion.pretrain.config import config_from_dict
    return config_from_dict(_plain({**dict(params), **run}), "pre-training preset")


def pretrain_and_export(out: Path, cfg, progress: bool = True) -> Dict[str, Any]:
    """CION pre-training with `cfg` (output_dir must be `out`; a killed run resumes), teacher -> out/export."""
    from cion.pretrain.export import export_teacher
    from cion.pretrain.train import pretrain
    if Path(cfg.output_dir).resolve() != Path(out).resolve():
        raise ValueError(f"pre-training output_dir {cfg.output_dir} is not the stage folder {out}")
    summary = pretrain(cfg, resume=(Path(out) / "checkpoint.pth").exists(), progress=progress)
    export_teacher(Path(out) / "checkpoint.pth", Path(out) / "export", overwrite=True)
    return {**summary, "hub": "export"}


def finetune_config(params: Mapping[str, Any], **run: Any):
    """A FinetuneConfig from a preset's `finetune` mapping plus the run's own keys (model, init, root, seed, ...)."""
    from reidzoo.config_loader import config_from_dict
    from reidzoo.finetune import FinetuneConfig
    return config_from_dict(FinetuneConfig, {**dict(params), **run}, "fine-tuning preset")


def finetune_and_export(out: Path, cfg, progress: bool = True) -> Dict[str, Any]:
    """reidzoo.finetune into `out` (a killed run resumes); the last epoch's backbone -> out/hub.

    The reported metrics are the last epoch's: picking the best epoch on the test split would
    report a number chosen on the test data.
    """
    from reidzoo.finetune import export_finetuned, finetune
    res = finetune(cfg, out, resume=True, progress=progress)
    export_finetuned(Path(out) / "last.pth", Path(out) / "hub", overwrite=True)
    last = res["history"][-1]
    return {"epochs": last["epoch"], "last": {k: last[k] for k in ("mAP", "rank1", "rank5", "mINP") if k in last},
            "hub": "hub"}


def stage_hub(out: Path) -> Path:
    """The hub folder a finished initialisation stage (random, pretrain, finetune) wrote."""
    rec = stage_record(out)
    if rec is None:
        raise StageError(f"{out} holds no finished stage")
    return Path(out) / rec["result"]["hub"]


# ------------------------------------------------------------------------------------------ evaluation

METRIC_KEYS = ("mAP", "rank1", "rank5", "mINP")


BN_TREATMENTS = ("as_is", "train")


def reestimate_bn_on_train(backbone, dataset, max_images: int = 512, seed: int = 0, batch_size: int = 64):
    """A copy of `backbone` whose BatchNorm statistics are re-estimated on (a seeded subset of) the train split.

    The BN rule of docs/pretrain.md (reidzoo.bn.reestimate_bn), with the images preprocessed as
    the evaluation preprocesses them; query and gallery are never seen.
    """
    import copy

    import numpy as np

    from reidzoo.bn import reestimate_bn
    from reidzoo.features import load_images
    paths = [p for p, _, _ in dataset.train]
    if len(paths) > max_images:
        keep = np.random.default_rng(seed).choice(len(paths), max_images, replace=False)
        paths = [paths[i] for i in sorted(keep)]
    images = load_images(paths, backbone)
    return reestimate_bn(copy.deepcopy(backbone), images, batch_size)


def evaluate_init(backbone, init: str, dataset, params: Mapping[str, Any], progress: bool = True) -> Dict[str, Any]:
    """mAP / CMC / mINP of one initialisation's features (cosine) on the dataset's query/gallery.

    `init` names the initialisation in the result. params: `batch_size`, `num_workers`, and `bn`:
    "as_is" (default: the backbone's own BatchNorm statistics) or "train" (the BN rule: statistics
    re-estimated on up to `bn_images` train images, seed `bn_seed`, for every initialisation alike),
    and `input_size`: (H, W) at which every initialisation is evaluated (default: the backbone's own).
    """
    import copy

    from reidzoo.finetune import FinetuneConfig, evaluate_backbone
    from reidzoo.loading import set_input_size
    bn = params.get("bn", "as_is")
    batch = int(params.get("batch_size", 64))
    if params.get("input_size") is not None:  # on a copy: the caller's model keeps its own size
        backbone = set_input_size(copy.copy(backbone), params["input_size"])
    if bn == "train":
        backbone = reestimate_bn_on_train(backbone, dataset, int(params.get("bn_images", 512)),
                                          int(params.get("bn_seed", 0)), batch)
    elif bn != "as_is":
        raise StageError(f"unknown BatchNorm treatment bn={bn!r}; choose one of {', '.join(BN_TREATMENTS)}")
    fc = FinetuneConfig(batch_size_eval=batch, num_workers=int(params.get("num_workers", 1)))
    res = evaluate_backbone(backbone, dataset, fc, progress=progress)
    return {"init": init, "bn": bn, **res}


def pick(res: Mapping[str, Any], keys: Iterable[str] = METRIC_KEYS) -> Dict[str, float]:
    """The headline metrics of an evaluation result."""
    return {k: res[k] for k in keys}
