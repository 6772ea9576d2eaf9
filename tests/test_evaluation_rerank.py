"""Sparse k-reciprocal re-ranking against the dense textbook form; FAISS retrieval helpers."""
import warnings

import numpy as np
import pytest

from reidzoo.evaluation import evaluate
from reidzoo.evaluation.ranking import prepare_features
from reidzoo.evaluation.rerank import rerank_block_scores, rerank_dense
from reidzoo.evaluation.retrieval import map_at_k, ranked_lists
from test_evaluation import quantised_set, random_set, reference_distances, reference_metrics


def near_tie_set(seed=3, n=300, nq=50, dim=16):
    """Copies of 60 vectors, each scaled by 1 +- 1e-7 (fp32 cannot order them), half with noise."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((60, dim)).astype(np.float32)
    x = base[rng.integers(0, 60, n)] * (1 + 1e-7 * rng.standard_normal((n, 1))).astype(np.float32)
    x += 0.3 * rng.standard_normal((n, dim)).astype(np.float32) * (rng.random((n, 1)) < 0.5)
    pids = rng.integers(0, 30, n)
    cams = rng.integers(0, 3, n)
    return x[:nq], x[nq:], pids[:nq], pids[nq:], cams[:nq], cams[nq:]


SETS = {
    "gaussian": lambda: random_set(11, nq=60, ng=340, nids=40, dim=24, noise=1.0),
    "quantised": lambda: quantised_set(41, nq=50, ng=250, nids=30, dim=8),     # exact ties
    "near_ties": near_tie_set,
}


@pytest.mark.parametrize("name", sorted(SETS))
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_sparse_rerank_equals_textbook(metric, name):
    # near-ties and exact ties at the k1-th / k2-th neighbour flip in fp32 (FAISS): the neighbour
    # lists are decided by the reference distances, so sparse equals dense at every boundary
    data = SETS[name]()
    dense = rerank_dense(data[0], data[1], metric=metric)
    q, g, _ = prepare_features(data[0], data[1], metric)
    sparse = -rerank_block_scores(q, g, metric=metric)(0, len(q)).numpy()
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=2e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # tie warnings of the quantised set
        ours = evaluate(*data, metric=metric, rerank=True)
        plain = evaluate(*data, metric=metric)
    assert ours["mAP"] != plain["mAP"]                  # re-ranking really changed the ranking
    if name == "gaussian":
        # (with near-equal final distances, as in the other sets, 1e-12 can reorder a pair)
        ref = reference_metrics(*data, dist=dense)
        assert abs(ours["mAP"] - ref["mAP"]) < 1e-9 and abs(ours["rank1"] - ref["cmc"][0]) < 1e-9


def test_neighbour_lists_are_exact_at_ties():
    from reidzoo.evaluation.rerank import _pooled, pooled_reference
    from reidzoo.evaluation.neighbours import exact_neighbours
    for data in (quantised_set(42, nq=50, ng=250, dim=6), near_tie_set(4)):
        for metric in ("cosine", "euclidean"):
            q, g, _ = prepare_features(data[0], data[1], metric)
            x = _pooled(q, g)
            ref = pooled_reference(x, metric)
            n = len(x)
            full = ref.distances(np.repeat(np.arange(n), n), np.tile(np.arange(n), n)).reshape(n, n)
            np.testing.assert_array_equal(exact_neighbours(x, ref, 21), np.argsort(full, 1, kind="stable")[:, :21])


def test_rerank_parameters_are_checked():
    data = random_set(12, nq=20, ng=80)
    with pytest.raises(ValueError, match="lambda_value"):
        evaluate(*data, rerank=True, rerank_params={"lambda_value": 2.0})


def test_ranked_lists_and_map_at_k():
    data = random_set(13, nq=50, ng=400)
    qf, gf, q_pids, g_pids, q_camids, g_camids = data
    lists = ranked_lists(*data, k=10)
    dist = reference_distances(qf, gf)
    for i, row in enumerate(lists):
        order = np.argsort(dist[i], kind="stable")
        order = order[~((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i]))]
        assert list(row) == list(order[:10])
    full = evaluate(*data)
    at_all = map_at_k(*data, k=len(gf))              # k = whole gallery: plain mAP
    assert at_all[f"mAP@{len(gf)}"] == pytest.approx(full["mAP"], abs=1e-9)
    at10 = map_at_k(*data, k=10)
    assert at10["rank1"] == pytest.approx(full["rank1"]) and at10["rank10"] == pytest.approx(full["rank10"])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ranked_lists_follow_the_tie_rule(metric):
    data = quantised_set(43, nq=40, ng=300, dim=5)
    qf, gf, q_pids, g_pids, q_camids, g_camids = data
    dist = reference_distances(qf, gf, metric)
    for i, row in enumerate(ranked_lists(*data, k=30, metric=metric)):
        order = np.argsort(dist[i], kind="stable")
        order = order[~((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i]))]
        assert list(row) == list(order[:30])
    const = (np.ones_like(qf), np.ones_like(gf)) + data[2:]
    with pytest.warns(UserWarning, match="Most distances tie"):
        full = evaluate(*const, metric=metric)
    at_all = map_at_k(*const, k=len(gf), metric=metric)
    assert at_all[f"mAP@{len(gf)}"] == pytest.approx(full["mAP"], abs=1e-9) and at_all["rank1"] == full["rank1"]
