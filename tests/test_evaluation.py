"""Metrics against an independent argsort-per-query implementation of the standard protocol."""
import numpy as np
import pytest

from reidzoo.evaluation import EvaluationInputError, evaluate


def reference_distances(qf, gf, metric="cosine"):
    """The distances of the docs' tie rule, in float64 from the float32 features (numpy's own
    summation order: equal to the evaluator's whenever the sums are exact, e.g. quantised features)."""
    q64, g64 = np.asarray(qf, np.float32).astype(np.float64), np.asarray(gf, np.float32).astype(np.float64)
    if metric == "cosine":
        nq = np.maximum(np.sqrt((q64 ** 2).sum(1)), 1e-12)
        ng = np.maximum(np.sqrt((g64 ** 2).sum(1)), 1e-12)
        return 1.0 - (q64 @ g64.T) / (nq[:, None] * ng[None, :])
    return ((q64[:, None, :] - g64[None, :, :]) ** 2).sum(-1)


def reference_metrics(qf, gf, q_pids, g_pids, q_camids, g_camids, metric="cosine", max_rank=50, dist=None):
    """The textbook loop: full distance matrix, stable argsort of each row (equal distances in
    gallery order), drop same id+camera."""
    if dist is None:
        dist = reference_distances(qf, gf, metric)
    aps, inps, cmcs = [], [], []
    skipped = 0
    for i in range(len(qf)):
        order = np.argsort(dist[i], kind="stable")
        remove = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        match = (g_pids[order] == q_pids[i])[~remove].astype(np.float64)
        if not match.any():
            skipped += 1
            continue
        hits = np.cumsum(match)
        aps.append(((hits / np.arange(1, len(match) + 1)) * match).sum() / match.sum())
        last = np.flatnonzero(match)[-1]
        inps.append(hits[last] / (last + 1))
        c = np.minimum(hits, 1)
        c = np.concatenate([c, np.ones(max(0, max_rank - len(c)))])
        cmcs.append(c[:max_rank])
    cmc = np.mean(cmcs, axis=0)
    return dict(mAP=np.mean(aps), mINP=np.mean(inps), cmc=cmc, skipped=skipped)


def random_set(seed, nq=120, ng=900, nids=60, ncams=4, dim=32, noise=1.2, distractors=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((nids + 1, dim)).astype(np.float32)
    q_pids = rng.integers(1, nids + 1, nq)
    g_pids = rng.integers(1, nids + 1, ng)
    if distractors:
        g_pids[:distractors] = 0          # Market's "0000": never a match
    q_camids = rng.integers(0, ncams, nq)
    g_camids = rng.integers(0, ncams, ng)
    qf = centres[q_pids] + noise * rng.standard_normal((nq, dim)).astype(np.float32)
    gf = centres[g_pids] + noise * rng.standard_normal((ng, dim)).astype(np.float32)
    return qf, gf, q_pids, g_pids, q_camids, g_camids


def assert_same(ours, ref, tol=1e-9):
    assert abs(ours["mAP"] - ref["mAP"]) <= tol
    assert abs(ours["mINP"] - ref["mINP"]) <= tol
    np.testing.assert_allclose(ours["cmc"], ref["cmc"], rtol=0, atol=tol)
    assert ours["num_skipped_queries"] == ref["skipped"]
    assert ours["rank1"] == pytest.approx(ref["cmc"][0], abs=tol)
    assert ours["rank5"] == pytest.approx(ref["cmc"][4], abs=tol)
    assert ours["rank10"] == pytest.approx(ref["cmc"][9], abs=tol)


@pytest.mark.parametrize("engine", ["fp32", "bf16"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_argsort_reference(engine, metric, seed):
    data = random_set(seed, distractors=100)
    ref = reference_metrics(*data, metric=metric)
    ours = evaluate(*data, metric=metric, engine=engine)
    assert 0.05 < ref["mAP"] < 0.95          # a set where ranking errors would show
    assert_same(ours, ref)
    assert ours["num_valid_queries"] + ours["num_skipped_queries"] == len(data[0])


def test_queries_without_matches_are_skipped_and_counted():
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(3)
    q_pids[:5] = 999                        # nobody in the gallery
    g_pids[g_pids == q_pids[5]] = 77777      # keep one query whose matches are all same-camera
    g_sel = g_pids == q_pids[6]
    g_camids[g_sel] = q_camids[6]
    ref = reference_metrics(qf, gf, q_pids, g_pids, q_camids, g_camids)
    ours = evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids)
    assert ours["num_skipped_queries"] >= 7
    assert_same(ours, ref)


def test_large_euclidean_offsets_bf16():
    # features far from the origin stress the |g|^2 / 2 offset and the error bound
    qf, gf, *rest = random_set(4, dim=64)
    qf, gf = qf + 30.0, gf + 30.0
    ref = reference_metrics(qf, gf, *rest, metric="euclidean")
    for engine in ("fp32", "bf16"):
        assert_same(evaluate(qf, gf, *rest, metric="euclidean", engine=engine), ref)


def test_bf16_engine_reports_its_work():
    data = random_set(5, nq=200, ng=3000, dim=128)
    stats = {}
    ours = evaluate(*data, engine="bf16", stats=stats)
    assert_same(ours, reference_metrics(*data))
    assert stats["engine"] == "bf16" and 0 < stats["max_error_bound"] < 0.05
    assert stats["rescored"] <= stats["candidates"]


def test_small_max_rank_and_tiny_gallery():
    data = random_set(6, nq=10, ng=8, nids=3)
    ref = reference_metrics(*data, max_rank=20)
    assert_same(evaluate(*data, max_rank=20), ref)


@pytest.mark.parametrize("bad, message", [
    (lambda d: (d[0][:, :5],) + d[1:], "dimension"),
    (lambda d: d[:2] + (d[2][:-1],) + d[3:], "q_pids"),
    (lambda d: (np.where(np.arange(len(d[0]))[:, None] == 3, np.nan, d[0]),) + d[1:], "NaN"),
    (lambda d: (d[0][:0],) + d[1:2] + (d[2][:0],) + d[3:4] + (d[4][:0],) + d[5:], "empty"),
    (lambda d: d[:5] + (d[5].astype(np.float64) + 0.5,), "integers"),
])
def test_bad_inputs_give_clear_errors(bad, message):
    with pytest.raises(EvaluationInputError, match=message):
        evaluate(*bad(random_set(7)))


def test_no_valid_query_at_all():
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(8)
    with pytest.raises(EvaluationInputError, match="no query"):
        evaluate(qf, gf, q_pids + 10_000, g_pids, q_camids, g_camids)


def _bf16_counts(data, metric="cosine", **kw):
    from reidzoo.evaluation.exact import Reference
    from reidzoo.evaluation.protocol import check_inputs, metrics_from_ranks, valid_positives
    from reidzoo.evaluation.ranking import gallery_centre
    from reidzoo.evaluation.ranking_bf16 import count_bf16
    qf, gf, q_pids, g_pids, q_camids, g_camids = check_inputs(*data)
    centre = gallery_centre(gf) if metric == "euclidean" else None
    pos = valid_positives(q_pids, g_pids, q_camids, g_camids)
    table, neg_above, _ = count_bf16(Reference.build(qf, gf, metric, centre), pos, q_pids, g_pids, centre, **kw)
    return neg_above, metrics_from_ranks(table.pq, neg_above, len(qf))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_bf16_blocks_padding_and_threads_agree(metric):
    # 203 queries in blocks of 64 (the last one padded to 16 rows), several without matches,
    # scanned by one or three threads: the counts are the same and equal the reference
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(9, nq=203, ng=1501, dim=48)
    q_pids[[0, 64, 65, 200]] = 999
    data = (qf, gf, q_pids, g_pids, q_camids, g_camids)
    ref = reference_metrics(*data, metric=metric)
    counts = [_bf16_counts(data, metric, block=64, threads=t) for t in (1, 3)]
    np.testing.assert_array_equal(counts[0][0], counts[1][0])
    assert_same(counts[0][1], ref)


def quantised_set(seed=40, nq=200, ng=1500, nids=40, dim=6):
    """Integer-valued features in 6 dimensions: tens of thousands of exactly tied distances."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((nids, dim))
    q_pids, g_pids = rng.integers(0, nids, nq), rng.integers(0, nids, ng)
    qf = np.round(centres[q_pids] + rng.standard_normal((nq, dim))).astype(np.float32)
    gf = np.round(centres[g_pids] + rng.standard_normal((ng, dim))).astype(np.float32)
    return qf, gf, q_pids, g_pids, rng.integers(0, 4, nq), rng.integers(0, 4, ng)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_tie_heavy_quantised_features_equal_the_stable_argsort(metric):
    # equal distances go by gallery index, in both engines, exactly (to 1e-9) as a stable argsort
    data = quantised_set()
    ref = reference_metrics(*data, metric=metric)
    results = []
    for engine in ("fp32", "bf16"):
        stats = {}
        with pytest.warns(UserWarning, match="have exactly the distance of one of the query's positives"):
            res = evaluate(*data, metric=metric, engine=engine, stats=stats)
        assert_same(res, ref)
        assert res["num_tied_pairs"] >= 30_000 and stats["ties"] == res["num_tied_pairs"]
        results.append(res)
    assert results[0]["mAP"] == results[1]["mAP"] and results[0]["mINP"] == results[1]["mINP"]
    # the order of equal distances matters here: reversing the gallery changes the numbers
    rev = data[:1] + (data[1][::-1],) + data[2:3] + (data[3][::-1],) + data[4:5] + (data[5][::-1],)
    with pytest.warns(UserWarning):
        assert abs(evaluate(*rev, metric=metric)["mAP"] - ref["mAP"]) > 1e-4


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_collapsed_features_score_by_gallery_order_not_100(metric, value):
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(14, nq=60, ng=500)
    qf, gf = np.full_like(qf, value), np.full_like(gf, value)
    ref = reference_metrics(qf, gf, q_pids, g_pids, q_camids, g_camids, metric=metric)
    for engine in ("fp32", "bf16"):
        with pytest.warns(UserWarning, match="Most distances tie: the features have probably collapsed"):
            res = evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, metric=metric, engine=engine)
        assert_same(res, ref)
        assert res["mAP"] < 0.2 and res["num_tied_pairs"] == res["num_negative_pairs"]


def test_near_ties_below_fp32_resolution_follow_float64():
    # negatives 1e-9 away from a positive: fp32 cannot order them, the reference can
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(15, nq=30, ng=300, dim=64)
    gf = gf.astype(np.float64)
    rng = np.random.default_rng(15)
    for i in range(30):
        p = np.flatnonzero((g_pids == q_pids[i]) & (g_camids != q_camids[i]))
        n = np.flatnonzero(g_pids != q_pids[i])[i]
        if len(p):
            gf[n] = gf[p[0]] * (1 + rng.choice([-1, 1]) * 2.0 ** -23)   # one fp32 ulp apart
    gf = gf.astype(np.float32)
    data = (qf, gf, q_pids, g_pids, q_camids, g_camids)
    for metric in ("cosine", "euclidean"):
        ref = reference_metrics(*data, metric=metric)
        for engine in ("fp32", "bf16"):
            stats = {}
            assert_same(evaluate(*data, metric=metric, engine=engine, stats=stats), ref)
            assert stats["exact"] > 0


def test_branch_free_count_below_matches_searchsorted():
    from reidzoo.evaluation.kernels import _count_below
    rng = np.random.default_rng(11)
    for _ in range(500):
        m = int(rng.integers(1, 40))
        t = np.sort(rng.integers(0, 15, m).astype(np.float64))
        arr = np.concatenate([rng.random(3) - 5, t, rng.random(2) + 100])
        for x in (-1.0, 0.0, 3.0, 3.5, 7.0, 14.0, 20.0):
            assert _count_below(arr, 3, m, x) == np.searchsorted(t, x, side="left")
