"""Pseudo labelling for Cluster Contrast: within-set Jaccard distances and DBSCAN, checked by hand."""
import numpy as np
import pytest

from reidzoo.evaluation.rerank import jaccard_distance, rerank_dense
from reidzoo.finetune.pseudo_labels import dbscan_labels, label_stats, pseudo_labels


def _two_triangles_and_an_outlier() -> np.ndarray:
    """A: unit-side triangle at z=0; B: the same at z=-2; O at (0, 0, 3)."""
    r = 1 / np.sqrt(3)
    a = np.array([[r * np.cos(t), r * np.sin(t), 0.0] for t in (0, 2 * np.pi / 3, 4 * np.pi / 3)])
    return np.vstack([a, a + [0, 0, -2], [[0, 0, 3]]]).astype(np.float32)


def _dense(j) -> np.ndarray:
    """Stored entries as they are (zeros included), absent pairs at distance 1."""
    c = j.tocoo()
    d = np.ones(j.shape)
    d[c.row, c.col] = c.data
    return d


def test_jaccard_by_hand_without_query_expansion():
    # Squared Euclidean, k1 = 2: each triangle point's 3 nearest (itself first) are its triangle, all
    # reciprocal, and the half-size sets add nobody, so V[i] spreads over the triangle with weights
    # exp(-D / rowmax): 1 on itself, e = exp(-1 / rowmax) on the two others (side 1), normalised.
    # rowmax is the squared distance to O (the farthest point): 3^2 + 1/3 for A (circumradius^2 = 1/3),
    # 5^2 + 1/3 for B.
    # Two members share min(V) = e/(1+2e) in each of the 3 columns: m = 3e/(1+2e), d = 1 - m/(2-m).
    # O is nobody's neighbour, so it shares no column with anyone: distance 1 (absent).
    d = _dense(jaccard_distance(_two_triangles_and_an_outlier(), k1=2, k2=1, metric="euclidean"))

    def within(rowmax):
        e = np.exp(-1 / rowmax)
        m = 3 * e / (1 + 2 * e)
        return 1 - m / (2 - m)

    assert d[0, 1] == pytest.approx(within(28 / 3), abs=1e-6) == pytest.approx(0.0701096, abs=1e-6)
    assert d[3, 4] == pytest.approx(within(76 / 3), abs=1e-6) == pytest.approx(0.0261404, abs=1e-6)
    assert np.allclose(d[:3, :3][~np.eye(3, dtype=bool)], d[0, 1]) and np.allclose(np.diag(d), 0)
    assert (d[:3, 3:] == 1).all() and (d[6, :6] == 1).all()
    assert dbscan_labels(jaccard_distance(_two_triangles_and_an_outlier(), k1=2, k2=1, metric="euclidean"),
                         eps=0.5, min_samples=3).tolist() == [0, 0, 0, 1, 1, 1, -1]


def test_jaccard_by_hand_with_query_expansion_and_eps():
    # k2 = 3 averages V over each point's 3 nearest. For a triangle that is its own 3 rows, which by
    # symmetry gives 1/3 on each member: within a triangle m = 1, distance 0 (stored as a real zero).
    # O's 3 nearest are O and two of A, so its row is (1 on O + two A rows) / 3: its overlap with
    # any A row (1/3 each) is (sum of two A rows) / 3 = 2/3, distance 1 - (2/3) / (4/3) = 1/2.
    j = jaccard_distance(_two_triangles_and_an_outlier(), k1=2, k2=3, metric="euclidean")
    d = _dense(j)
    assert np.abs(d[:3, :3]).max() < 1e-12 and np.abs(d[3:6, 3:6]).max() < 1e-12
    assert d[6, :3] == pytest.approx([0.5] * 3) and d[:3, 6] == pytest.approx([0.5] * 3)
    assert (d[:3, 3:6] == 1).all() and (d[6, 3:6] == 1).all()
    # DBSCAN: at eps 0.4 O has no neighbour and is dropped; at eps 0.6 it has 3 (+ itself) and joins A.
    assert dbscan_labels(j, eps=0.4, min_samples=3).tolist() == [0, 0, 0, 1, 1, 1, -1]
    assert dbscan_labels(j, eps=0.6, min_samples=3).tolist() == [0, 0, 0, 1, 1, 1, 0]
    # ...unless a point needs 5 neighbours to be a core: then nothing is dense enough
    assert dbscan_labels(j, eps=0.6, min_samples=5).tolist() == [-1] * 7


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_within_set_jaccard_equals_the_dense_textbook(metric):
    # The dense re-ranking of X[:20] against X[20:] pools exactly the set X, so with lambda 0 its
    # distances are the within-set Jaccard distances of that block.
    rng = np.random.default_rng(0)
    x = np.concatenate([c + 0.5 * rng.normal(size=(10, 16)) for c in rng.normal(size=(5, 16))]).astype(np.float32)
    x = x[rng.permutation(len(x))]
    d = _dense(jaccard_distance(x, k1=8, k2=3, metric=metric))
    ref = rerank_dense(x[:20], x[20:], metric=metric, k1=8, k2=3, lambda_value=0.0)
    assert np.abs(d[:20, 20:] - ref).max() < 1e-6
    assert np.abs(d - d.T).max() < 1e-12 and np.abs(np.diag(d)).max() < 1e-12


def test_pseudo_labels_find_the_identities_and_drop_the_outlier():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 32))
    feats = np.concatenate([c + 0.1 * rng.normal(size=(8, 32)) for c in centres] + [rng.normal(size=(1, 32))])
    ids = np.repeat(np.arange(5), [8, 8, 8, 8, 1])
    # The outlier is in nobody's k1 list, so its own V row is 1 on itself; query expansion averages
    # it with its k2 - 1 nearest rows, which lie in one cluster: m = (k2 - 1) / k2 against that
    # cluster, distance 1 - m / (2 - m) = 2/3 for k2 = 2 (2/7 for the release's k2 = 6, inside eps).
    d = _dense(jaccard_distance(feats, k1=6, k2=2))
    assert np.sort(d[-1])[1] == pytest.approx(2 / 3, abs=1e-9)
    labels = pseudo_labels(feats, eps=0.6, min_samples=4, k1=6, k2=2)
    assert labels[-1] == -1 and len(set(labels[:-1])) == 4
    assert all(len(set(labels[ids == i])) == 1 for i in range(4))
    stats = label_stats(labels, ids)
    assert stats == {"clusters": 4, "outliers": pytest.approx(1 / 33), "ari": pytest.approx(1.0), "purity": 1.0,
                     "ari_all": pytest.approx(1.0)}           # the outlier is a person of its own
    # a third person dropped as two outliers: the clustered rest is perfect, ari_all counts the loss
    part = label_stats(np.array([0, 0, 1, 1, -1, -1]), np.array([1, 1, 2, 2, 3, 3]))
    # pairs together: 2 of the clustering, 3 of the truth, 2 shared; chance 2 * 3 / 15 -> (2 - 0.4) / (2.5 - 0.4)
    assert part["ari"] == 1.0 and part["purity"] == 1.0 and part["ari_all"] == pytest.approx(16 / 21)
    with pytest.raises(ValueError, match="eps"):
        dbscan_labels(jaccard_distance(feats), eps=1.5)
