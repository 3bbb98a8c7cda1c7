import pytest
import torch

import gdl
from gdl.nn import NodeEmbedding


def test_types_features_and_constant():
    z = torch.tensor([1, 6, 8])
    x = torch.randn(3, 2)
    assert NodeEmbedding(4, num_types=10)(3, z=z).shape == (3, 4)
    assert NodeEmbedding(4, num_types=10, in_channels=2)(3, z=z, x=x).shape == (3, 4)
    const = NodeEmbedding(4, num_types=0)(3)
    assert const.shape == (3, 4) and torch.equal(const[0], const[2])


def test_errors():
    emb = NodeEmbedding(4, num_types=5)
    with gdl.debug(), pytest.raises(ValueError, match="outside"):  # a value check: models make it
        emb(2, z=torch.tensor([1, 7]))
    with pytest.raises(ValueError, match="needs atom types"):
        emb(2)
    with pytest.raises(ValueError, match="shape"):
        NodeEmbedding(4, num_types=0, in_channels=3)(2, x=torch.randn(2, 2))
    assert "num_types=5" in repr(emb)
