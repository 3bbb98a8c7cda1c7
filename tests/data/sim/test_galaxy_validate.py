import numpy as np

from gdl.data.sim.galaxy_validate import format_tables, main, validate


def test_validate_tables_on_a_small_config():
    cfg = dict(num_points=800, grid=16, box_size=400.0, omega_m=0.3, sigma_8=0.8, bias=2.0)
    res = validate(cfg, num_clouds=2, seed=0, compare_camb=False)
    assert np.isfinite(res["pk_ratio"]).all() and np.isfinite(res["xi_ratio"]).all()
    assert len(res["pk_ratio"]) == len(res["k"])
    assert 0.5 < res["velocity_rms"] / res["velocity_rms_linear"] < 1.5
    assert res["bias_reported"] == 2.0
    text = format_tables(res)
    assert "P_points / b²P_in" in text and "ξ_points / b²ξ_lin" in text


def test_cli_runs(capsys, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # skip the CAMB run
    assert main(["--mode", "2lpt", "--points", "300", "--grid", "16", "--box", "400", "--clouds", "1"]) == 0
    assert "large-scale bias" in capsys.readouterr().out
