"""Re-ID evaluation: exact mAP / CMC / mINP at low-precision speed, k-reciprocal re-ranking, FAISS retrieval.

    from reidzoo.evaluation import evaluate
    res = evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids)      # res["mAP"], res["rank1"], ...
"""
from .evaluate import evaluate
from .protocol import EvaluationInputError, check_inputs, metrics_from_ranks, valid_positives
from .rerank import rerank_dense
from .retrieval import map_at_k, ranked_lists, topk

__all__ = ["evaluate", "EvaluationInputError", "check_inputs", "metrics_from_ranks", "valid_positives",
           "rerank_dense", "map_at_k", "ranked_lists", "topk"]
