"""Re-ID evaluation: exact mAP / CMC / mINP at low-precision speed, k-reciprocal re-ranking, FAISS retrieval."""
from .evaluate import evaluate
from .protocol import EvaluationInputError, check_inputs, metrics_from_ranks, valid_positives

__all__ = ["evaluate", "EvaluationInputError", "check_inputs", "metrics_from_ranks", "valid_positives"]
