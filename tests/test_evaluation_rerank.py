"""Sparse k-reciprocal re-ranking against the dense textbook form; FAISS retrieval helpers."""
import numpy as np
import pytest

from reidzoo.evaluation import evaluate
from reidzoo.evaluation.ranking import prepare_features
from reidzoo.evaluation.rerank import rerank_block_scores, rerank_dense
from reidzoo.evaluation.retrieval import map_at_k, ranked_lists
from test_evaluation import random_set, reference_metrics


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_sparse_rerank_equals_textbook(metric):
    data = random_set(11, nq=60, ng=340, nids=40, dim=24, noise=1.0)
    dense = rerank_dense(data[0], data[1], metric=metric)
    q, g, _ = prepare_features(data[0], data[1], metric)
    sparse = -rerank_block_scores(q, g, metric=metric)(0, len(q)).numpy()
    np.testing.assert_allclose(sparse, dense, atol=2e-5)
    ref = reference_metrics(*data, dist=dense)
    ours = evaluate(*data, metric=metric, rerank=True)
    assert abs(ours["mAP"] - ref["mAP"]) < 1e-4
    assert abs(ours["rank1"] - ref["cmc"][0]) < 1e-4
    plain = evaluate(*data, metric=metric)
    assert ours["mAP"] != plain["mAP"]                  # re-ranking really changed the ranking


def test_rerank_parameters_are_checked():
    data = random_set(12, nq=20, ng=80)
    with pytest.raises(ValueError, match="lambda_value"):
        evaluate(*data, rerank=True, rerank_params={"lambda_value": 2.0})


def test_ranked_lists_and_map_at_k():
    data = random_set(13, nq=50, ng=400)
    qf, gf, q_pids, g_pids, q_camids, g_camids = data
    lists = ranked_lists(*data, k=10)
    s = (qf / np.linalg.norm(qf, axis=1, keepdims=True)) @ (gf / np.linalg.norm(gf, axis=1, keepdims=True)).T
    for i, row in enumerate(lists):
        order = np.argsort(-s[i], kind="stable")
        order = order[~((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i]))]
        assert list(row) == list(order[:10])
    full = evaluate(*data)
    at_all = map_at_k(*data, k=len(gf))              # k = whole gallery: plain mAP
    assert at_all[f"mAP@{len(gf)}"] == pytest.approx(full["mAP"], abs=1e-6)
    at10 = map_at_k(*data, k=10)
    assert at10["rank1"] == pytest.approx(full["rank1"]) and at10["rank10"] == pytest.approx(full["rank10"])
