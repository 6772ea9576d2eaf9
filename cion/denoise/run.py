"""End-to-end entry points: mining folder or features .npz in, CION-AL annotation set out."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .corpus import Corpus, DenoiseInputError, build_corpus
from .features import extract_crop_features
from .inputs import optional, read_features_npz, read_tracklets
from .pipeline import RoundConfig, RoundResult, finalize_labels, run_rounds
from .report import ANNOTATIONS, write_outputs


def _wait_for_rank0(device: str) -> None:
    """Under torchrun, a barrier so other ranks see what rank 0 just wrote."""
    import os
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        from .features import ensure_process_group
        ensure_process_group(device)
        dist.barrier()


def _check_out(out: Path, overwrite: bool) -> None:
    if (out / ANNOTATIONS).exists() and not overwrite:
        raise DenoiseInputError(f"{out / ANNOTATIONS} already exists; choose another --out or pass --overwrite")


def _per_round(values: Optional[Sequence], n: int, what: str) -> List:
    """Expand a per-round list: empty -> [None]*n, one value -> repeated, n values -> as is."""
    values = list(values or [])
    if not values:
        return [None] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise DenoiseInputError(f"{what} has {len(values)} values for {n} rounds; give one value or one per round")
    return values


def round_configs(rounds: int, radius=None, distance=None, merge_radius=None, window: int = 64,
                  stride: Optional[int] = None, neighbours: int = 16, levels=(1, 2, 3)) -> List[RoundConfig]:
    """RoundConfig per round from per-round threshold lists (None -> calibrated)."""
    rs, ds, ms = (_per_round(radius, rounds, "--radius"), _per_round(distance, rounds, "--distance"),
                  _per_round(merge_radius, rounds, "--merge-radius"))
    return [RoundConfig(radius=r, distance=d, merge_radius=m, window=window, stride=stride, neighbours=neighbours,
                        levels=tuple(levels)) for r, d, m in zip(rs, ds, ms)]


def denoise_corpus(corpus: Corpus, out, rounds: Sequence[RoundConfig], min_images: int = 2,
                   features_for_round: Optional[Callable] = None, extra: Optional[Dict[str, object]] = None,
                   log: Optional[Callable[[str], None]] = print, progress: bool = True) -> List[RoundResult]:
    """Run the rounds on a built corpus and write the outputs to `out`."""
    results = run_rounds(corpus, rounds, features_for_round=features_for_round, log=log, progress=progress)
    reason = results[-1].drop_reason.copy()
    final = finalize_labels(results[-1].final, reason, min_images=min_images)
    if not (final >= 0).any():  # an empty annotations.json would only fail later, in pre-training
        why = ", ".join(f"{int((reason == k).sum())} {k}" for k in np.unique(reason[reason != ""]).tolist())
        th = results[-1].thresholds
        raise DenoiseInputError(
            f"no identity survived denoising: all {corpus.n} crops were dropped ({why}) with r={th['radius']:.3g}; "
            f"raise --radius, lower --min-images (now {min_images}) or check the features; nothing was written")
    paths = write_outputs(out, corpus, results, final, reason,
                          extra={**(extra or {}), "min_images": min_images})
    if log:
        log(f"wrote {paths['annotations.json']}: {int((final >= 0).sum())} images, "
            f"{int(final.max()) + 1 if (final >= 0).any() else 0} identities; "
            f"{int((final < 0).sum())} dropped (see {paths['dropped.jsonl']})")
    return results


def denoise_feature_file(features_npz, out, rounds: Sequence[RoundConfig], min_images: int = 2,
                         overwrite: bool = False, log=print, progress: bool = True,
                         allow_absolute_paths: bool = False) -> List[RoundResult]:
    """Features-only mode: features extracted elsewhere, stored as an .npz."""
    out = Path(out)
    _check_out(out, overwrite)
    data = read_features_npz(features_npz, allow_absolute_paths)
    corpus = build_corpus(data["features"], data["video"], data["tracklet"], data["file_path"],
                          frame=optional(data, "frame"))
    if log and (~corpus.valid).any():
        log(f"warning: {int((~corpus.valid).sum())} rows have NaN/inf/zero features and are dropped, "
            f"e.g. {corpus.file_path[~corpus.valid][:3].tolist()}")
    return denoise_corpus(corpus, out, rounds, min_images=min_images, log=log, progress=progress,
                          extra={"input": {"mode": "features", "path": str(features_npz)}})


def denoise_tracklet_folder(tracklet_dir, out, models: Sequence[str], rounds: Sequence[RoundConfig],
                            weights: Optional[str] = None, random_init: bool = False, cache_dir=None,
                            batch_size: int = 64, device: str = "cpu", min_images: int = 2, overwrite: bool = False,
                            log=print, progress: bool = True) -> Optional[List[RoundResult]]:
    """Mining output in: extract (or reuse cached) crop features with `models[round]`, denoise, write."""
    from .features import is_main_process

    out = Path(out)
    _check_out(out, overwrite)
    tr = read_tracklets(tracklet_dir)
    for key, p in tr.problems.items():
        if log:
            log(f"warning: {p['count']} {key.replace('_', ' ')}, e.g. {p['examples'][:3]}")
    models = _per_round(models, len(rounds), "--model")
    if models[0] is None:
        raise DenoiseInputError("pass --model (a zoo name, hub folder, release checkpoint or 'colourhist') to extract features")
    cache_dir = Path(cache_dir) if cache_dir else out / "cache"

    def features(model: str) -> np.ndarray:
        src = model
        if random_init and not Path(model).exists():
            # A random-init zoo model: save it as a hub folder once so every round and rank agree.
            import reidzoo
            import torch
            from reidzoo.cards import Provenance
            from .features import is_main_process
            folder = cache_dir / f"random-{model}"
            if is_main_process() and not (folder / "config.json").exists():
                torch.manual_seed(0)
                reidzoo.save_hub_folder(reidzoo.create_model(model), model, folder, overwrite=True,
                                        provenance=Provenance.random_init(0))
            _wait_for_rank0(device)
            src = str(folder)
        return extract_crop_features(tr.root, tr.file_path, src, cache_dir, weights=weights,
                                     batch_size=batch_size, device=device, progress=progress)

    feats = features(models[0])
    if not is_main_process():
        return None  # torchrun helpers stop after extraction; rank 0 denoises
    corpus = build_corpus(feats, tr.video, tr.tracklet, tr.file_path, frame=tr.frame)
    if log and (~corpus.valid).any():
        log(f"warning: {int((~corpus.valid).sum())} crops could not be decoded; they are dropped, "
            f"e.g. {corpus.file_path[~corpus.valid][:3].tolist()}")

    def features_for_round(k: int, _prev) -> Optional[np.ndarray]:
        if models[k] == models[k - 1]:
            return None
        f = features(models[k])
        return f[corpus.source_index]

    return denoise_corpus(corpus, out, rounds, min_images=min_images, features_for_round=features_for_round,
                          log=log, progress=progress,
                          extra={"input": {"mode": "tracklets", "path": str(tracklet_dir),
                                           "image_root": str(Path(tracklet_dir).resolve()),
                                           "problems": tr.problems, "models": models}})
