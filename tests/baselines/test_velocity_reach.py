"""``python -m gdl.baselines.velocity_reach``: truncated linear theory and the graph's reach."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from gdl.baselines.velocity_reach import hop_reach, main, truncation_curve
from gdl.data import PeriodicKNNGraph, make_generator

from .test_ablation import _job


def test_reach_grows_with_the_hops_along_the_direction_messages_flow():
    # a ring of 8 points in a large box, each hearing only from its predecessor (one directed edge)
    angles = torch.arange(8, dtype=torch.float64) * (2 * np.pi / 8)
    pos = torch.stack([10 * torch.cos(angles), 10 * torch.sin(angles), torch.zeros(8).double()], 1) + 50.0

    def ring(data):
        data.edge_index = torch.stack([torch.arange(8), (torch.arange(8) + 1) % 8])  # j -> j + 1
        return data

    rows = hop_reach([Data(pos=pos, box=torch.full((1, 3), 1000.0))], ring, hops=3)
    side = 2 * 10 * np.sin(np.pi / 8)
    assert [r["points_median"] for r in rows] == [2, 3, 4]  # itself and 1, 2, 3 predecessors
    np.testing.assert_allclose([rows[0]["distance_median"], rows[0]["distance_max"]], side, rtol=1e-9)
    assert rows[0]["distance_max"] < rows[1]["distance_max"] < rows[2]["distance_max"]


def test_truncation_curve_ends_at_the_untruncated_fit():
    gen = make_generator(dict(num_points=2000, grid=16, box_size=400.0), seed=0)
    clouds = [gen(i) for i in range(4)]
    data = [(c.pos, c.box_size, c.velocity) for c in clouds]
    full, huge = truncation_curve(data[:3], data[3:], 16, [None, 1e7])
    assert full["truncation"] is None and np.isfinite(full["r2"])
    np.testing.assert_allclose(huge["r2"], full["r2"], rtol=1e-4, atol=1e-6)


def test_cli_on_a_velocity_job(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _job(sweep, 0, "galaxy_velocity_scaling", 6, tmp_path / "data")
    assert main([str(sweep / "0"), "--radii", "inf,2", "--hops", "2", "--reach-clouds", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 training and 8 test clouds" in out and f"reach of {PeriodicKNNGraph(10)!r}" in out
    lines = [line for line in out.splitlines() if line.startswith(("inf |", "2 |")) and line.count("|") == 3]
    assert len(lines) == 2 and all(np.isfinite(float(line.split("|")[-1])) for line in lines)


def test_bad_input(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2 and "not found" in capsys.readouterr().err
    sweep = tmp_path / "sweep"
    _job(sweep, 0, "galaxy_cosmology_scaling", 6, tmp_path / "data")
    assert main([str(sweep / "0")]) == 2 and "does not predict velocity" in capsys.readouterr().err
    assert main([str(sweep / "0"), "--radii", "0"]) == 2 and "radii must be > 0" in capsys.readouterr().err
