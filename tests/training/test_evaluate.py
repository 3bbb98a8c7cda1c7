"""evaluate(cfg, ckpt, split): bad input fails before any data is read (the end-to-end check that
it reproduces a run's test metrics is tests/cli/test_gdl_eval.py)."""

import pytest

from gdl.training import compose
from gdl.training.evaluate import SPLITS, evaluate


def test_bad_split_and_missing_checkpoint(tmp_path):
    cfg = compose(["experiment=nbody"], run_dir=tmp_path / "out")
    assert SPLITS == ("test", "val", "train")
    with pytest.raises(ValueError, match=r"split must be one of \['test', 'val', 'train'\], got 'holdout'"):
        evaluate(cfg, tmp_path / "x.ckpt", "holdout")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        evaluate(cfg, tmp_path / "x.ckpt")
    assert not (tmp_path / "out").exists()  # nothing written
