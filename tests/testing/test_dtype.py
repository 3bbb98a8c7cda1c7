import pytest
import torch

from gdl.testing import default_dtype


def test_default_dtype_restores_even_on_error():
    before = torch.get_default_dtype()
    with default_dtype(torch.float64):
        assert torch.get_default_dtype() == torch.float64
        assert torch.zeros(1).dtype == torch.float64
    assert torch.get_default_dtype() == before
    with pytest.raises(RuntimeError), default_dtype(torch.float64):
        raise RuntimeError("boom")
    assert torch.get_default_dtype() == before
