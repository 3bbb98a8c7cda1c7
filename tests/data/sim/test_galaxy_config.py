import pytest

from gdl.data.sim.galaxy_config import GalaxyConfig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(box_size=0.0), "box_size must be > 0"),
        (dict(box_size=-5.0), "box_size must be > 0"),
        (dict(num_points=0), "num_points"),
        (dict(mode="zeldovich", grid=8, num_points=600), "cannot place 600 points"),
        (dict(grid=16, shape_smoothing=10.0), "grid too coarse for the requested smoothing"),
        (dict(anisotropy=-1.0), "anisotropy"),
        (dict(omega_m=(0.5, 0.1)), "low <= high"),
        (dict(omega_m=(0.01, 0.3)), "omega_b"),
        (dict(mode="nbody"), "mode must be one of"),
        (dict(mode="2lpt", grid=8, num_points=512), "cannot place 512 points"),
        (dict(bias="peaks"), "bias must be a number"),
        (dict(bias="selection"), "'selection' is the 2lpt mode's bias"),
        (dict(mode="2lpt", bias=2.0), "'selection' is the 2lpt mode's bias"),
        (dict(power="class"), "power must be one of"),
        (dict(omega_b=(0.03, 0.07)), r"omega_b/omega_m = 0.7 > 0.5"),
        (dict(h=(0.5, 2.0)), r"h must lie in \[0.2, 1.5\]"),
        (dict(sigma_8=(0.0, 1.0)), "sigma_8 must satisfy 0 < low"),
        (dict(bias=(1.0, 2.0, 3.0)), "pair"),
        (dict(velocity_dispersion=-1.0), "velocity_dispersion"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GalaxyConfig(**kwargs)


def test_config_from_mapping_and_unknown_keys():
    cfg = GalaxyConfig.from_any({"omega_m": [0.2, 0.4], "grid": 32}, num_points=100)
    assert cfg.omega_m == (0.2, 0.4) and cfg.grid == 32 and cfg.num_points == 100
    assert GalaxyConfig(bias=(2.0, 2.0)).bias == 2.0
    with pytest.raises(TypeError, match="unknown GalaxyConfig field"):
        GalaxyConfig.from_any({"boxsize": 100})


def test_smoothing_and_cell_size():
    cfg = GalaxyConfig(box_size=640.0, grid=32)
    assert cfg.cell_size == 20.0 and cfg.smoothing == 40.0
    assert GalaxyConfig(box_size=640.0, grid=32, shape_smoothing=25.0).smoothing == 25.0
    assert GalaxyConfig().as_dict()["mode"] == "lognormal"
