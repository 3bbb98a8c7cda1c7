import numpy as np
import pytest

from gdl.baselines.two_point import (
    PairDistanceFeatures,
    TwoPointFeatures,
    analytic_random_pairs,
    default_pair_radii,
    default_tpcf_edges,
    pair_counts,
    pair_distance_features,
    pair_distances,
    tpcf,
)
from gdl.groups import cube_group

L = 100.0


def _brute_d(pos, box):
    d = pos[:, None] - pos[None]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    return r[np.triu_indices(len(pos), 1)]


def test_pair_counts_match_brute_force():
    pos = np.random.default_rng(0).uniform(0, L, (300, 3))
    edges = np.array([0.0, 3.0, 10.0, 25.0, 49.0])
    np.testing.assert_array_equal(pair_counts(pos, L, edges), np.histogram(_brute_d(pos, L), edges)[0])
    d = pair_distances(pos, L, 20.0)
    ref = np.sort(_brute_d(pos, L))
    np.testing.assert_allclose(d, ref[ref < 20.0])


def test_analytic_randoms_and_uniform_points_have_no_clustering():
    edges = np.linspace(5, 40, 8)
    rr = analytic_random_pairs(2000, L, edges)
    assert rr.sum() == pytest.approx(2000 * 1999 / 2 * 4 / 3 * np.pi * (40**3 - 5**3) / L**3)
    xis = [tpcf(np.random.default_rng(s).uniform(0, L, (2000, 3)), L, edges) for s in range(5)]
    assert np.abs(np.mean(xis, 0)).max() < 0.03


def test_clustered_points_have_positive_xi_at_small_r():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, L, (100, 3))
    pos = np.mod(np.repeat(centres, 10, 0) + rng.normal(0, 2.0, (1000, 3)), L)
    xi = tpcf(pos, L, np.array([0.5, 2.0, 4.0, 30.0, 45.0]))
    assert xi[0] > 10 and abs(xi[-1]) < 0.2


def test_invariant_under_box_symmetries_and_permutations():
    pos = np.random.default_rng(2).uniform(0, L, (500, 3))
    edges = default_tpcf_edges(L)
    base = pair_counts(pos, L, edges)
    for R in cube_group().numpy()[[3, 29, 46]]:
        assert np.array_equal(pair_counts(np.mod(pos @ R.T, L), L, edges), base)
    assert np.array_equal(pair_counts(np.mod(pos + [31.4, -2.7, 77.7], L), L, edges), base)
    assert np.array_equal(pair_counts(pos[::-1], L, edges), base)


def test_pair_distance_features_match_brute_force():
    pos = np.random.default_rng(3).uniform(0, L, (200, 3))
    radii = np.array([5.0, 12.0, 30.0])
    feats = pair_distance_features(pos, L, radii).reshape(4, 3)
    d2 = _brute_d(pos, L) ** 2
    for j, r in enumerate(radii):
        v = d2[d2 <= r * r]
        np.testing.assert_allclose(
            feats[:, j], [v.mean(), v.std(), np.quantile(v, 1 / 3), np.quantile(v, 2 / 3)]
        )
    empty = pair_distance_features(np.array([[0.0, 0, 0], [50.0, 50, 50]]), L, np.array([1.0, 2.0]))
    assert (empty == 0).all()


def test_feature_maps_and_defaults():
    pos = np.random.default_rng(4).uniform(0, 1000.0, (500, 3))
    assert TwoPointFeatures()(pos, 1000.0).shape == (24,)
    assert PairDistanceFeatures()(pos, 1000.0).shape == (48,)
    assert default_tpcf_edges(1000.0)[[0, -1]].tolist() == pytest.approx([0.5, 150.0])
    assert len(default_pair_radii(1000.0)) == 12
    assert TwoPointFeatures(np.array([1.0, 5.0, 9.0]))(pos, 1000.0).shape == (2,)
    assert "default" in repr(TwoPointFeatures()) and "12" in repr(PairDistanceFeatures(np.ones(12)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tpcf(np.zeros((1, 3)), L, np.array([1.0, 2.0])), "at least 2 points"),
        (lambda: pair_counts(np.zeros((5, 3)), L, np.array([2.0, 1.0])), "increasing"),
        (lambda: pair_counts(np.zeros((5, 3)), L, np.array([1.0, 60.0])), "half the box"),
        (lambda: pair_distances(np.zeros((5, 3)), -1.0, 1.0), "box size must be > 0"),
        (lambda: pair_distances(np.full((5, 3), np.nan), L, 1.0), "NaN"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
