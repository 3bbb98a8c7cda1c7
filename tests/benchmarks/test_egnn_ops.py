import torch

from benchmarks.egnn_ops import _SiluSavedSigmoid, main, time_group


def test_small_run_prints_every_group():
    lines = main(["--edges", "64", "--channels", "8", "--repeats", "2"])
    text = "\n".join(lines)
    assert "GFLOP/s" in text and "g^T x (weight gradient)" in text
    assert "phi_x's last layer" in text and "saved sigmoid" in text


def test_saved_sigmoid_silu_has_silu_gradients():
    z = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_SiluSavedSigmoid.apply, (z,))
    torch.testing.assert_close(_SiluSavedSigmoid.apply(z), torch.nn.functional.silu(z))


def test_time_group_times_every_function():
    calls = []
    times = time_group({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4)
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
    assert calls.count("a") == calls.count("b") == 3 + 4
    assert calls[6:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # alternating after the warm-up
