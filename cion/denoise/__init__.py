"""Progressive identity correlation seeking: multi-level denoising of tracklets into cross-video identities.

    from cion.denoise import build_corpus, RoundConfig, run_round
    corpus = build_corpus(features, video, tracklet, file_path, frame=frame)
    result = run_round(corpus, RoundConfig())        # thresholds calibrated from the data
    result.labels["level3"]                           # (N,) identity per crop, -1 = dropped
"""
from .calibrate import calibrate_distance, calibrate_merge_radius, calibrate_radius
from .corpus import Corpus, DenoiseInputError, build_corpus
from .levels import level1, level2, level3, trim_to_radius
from .metrics import cluster_scores
from .noise import criteria_stats, geometry
from .pipeline import RoundConfig, RoundResult, finalize_labels, run_round, run_rounds
from .run import denoise_corpus, denoise_feature_file, denoise_tracklet_folder, round_configs

__all__ = ["Corpus", "DenoiseInputError", "build_corpus", "level1", "level2", "level3", "trim_to_radius",
           "calibrate_radius", "calibrate_distance", "calibrate_merge_radius", "cluster_scores",
           "criteria_stats", "geometry", "RoundConfig", "RoundResult", "run_round", "run_rounds",
           "finalize_labels", "denoise_corpus", "denoise_feature_file", "denoise_tracklet_folder", "round_configs"]
