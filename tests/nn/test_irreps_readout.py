import pytest
import torch

from gdl.keys import Target
from gdl.nn import IrrepsReadout
from gdl.testing import assert_equivariant, default_dtype, graph, node


def test_typed_outputs_and_pooling():
    targets = [Target("e", "0e", "graph"), Target("d", "1o", "graph"), Target("s", "2e", "node")]
    with default_dtype(torch.float64):
        readout = IrrepsReadout("4x0e+2x1o+2x2e+2x1e", targets, reduce="sum")
    h = readout.irreps_in.randn(5, -1, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1, 1])
    out = readout(h, batch, 2)
    assert out["e"].shape == (2, 1) and out["d"].shape == (2, 3) and out["s"].shape == (5, 5)
    torch.testing.assert_close(out["d"][1], readout.linears["d"](h[2:]).sum(0))
    assert_equivariant(
        lambda h, b: readout(h, b, 2),
        (h, batch),
        in_types=(node(str(readout.irreps_in)), node("batch")),
        out_types={"e": graph("0e"), "d": graph("1o"), "s": node("2e")},
        tol=1e-12,
    )


def test_unreachable_targets_raise_and_so3_relabelling():
    with pytest.raises(ValueError, match=r"target 'q' \(graph 1x2e\) needs irreps \['2e'\]"):
        IrrepsReadout("4x0e+2x1o", [Target("q", "2e", "graph")])
    with pytest.raises(ValueError, match=r"needs irreps \['1e'\]"):
        IrrepsReadout("4x0e+2x1o", [Target("a", "1e", "graph")])
    # SO(3)-only features are labelled even and feed targets of either parity
    readout = IrrepsReadout(
        "4x0e+2x1e", [Target("v", "1o", "node"), Target("p", "0o", "graph")], parity=False
    )
    assert readout(torch.randn(3, 10), torch.zeros(3, dtype=torch.long), 1)["v"].shape == (3, 3)
    assert IrrepsReadout.supported_irreps("4x0e+2x1e", parity=False) == ["0e", "0o", "1e", "1o"]
    assert IrrepsReadout.supported_irreps("4x0e+2x1o") == ["0e", "1o"]


def test_mean_bias_repr_and_errors():
    readout = IrrepsReadout("2x0e", [Target("e", "0e", "graph")], reduce="mean")
    h = torch.randn(4, 2)
    out = readout(h, torch.tensor([0, 0, 0, 1]), 2)
    torch.testing.assert_close(out["e"][0], readout.linears["e"](h[:3]).mean(0))
    assert readout.linears["e"].bias.numel() == 1  # true scalars get a bias
    assert repr(readout) == "IrrepsReadout(2x0e -> [e:graph:1x0e], reduce=mean, parity=True)"
    with pytest.raises(ValueError, match="reduce must be one of"):
        IrrepsReadout("2x0e", ["homo"], reduce="max")
    with pytest.raises(ValueError, match=r"expects h \[N, 2\]"):
        readout(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 1)
