"""A test mixin that gives every gdl model the same battery of tests (as NequIP ships its tests).

Usage, in ``tests/models/test_<model>.py``::

    from gdl.testing.model_mixin import ModelTestMixin

    class TestEGNN(ModelTestMixin):
        def make_model(self, targets):
            return EGNN(targets=targets, hidden_channels=16, num_layers=2)

pytest then runs, for that model: typed output shapes, equivariance of every target (rotations,
reflections if ``group`` includes them, translations, permutations) in float64, batch-vs-single
consistency, ``gradcheck`` on a tiny graph, finite gradients, and ``torch.compile`` vs eager.
Override the class attributes to adapt (e.g. ``group = "SO3"`` for a model without parity, or
``targets`` for a model that only produces some types); override a test to change what it asserts.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch_geometric.data import Batch

from ..dtype import default_dtype
from ..keys import Target
from .data import random_molecule, random_molecules
from .equivariance import assert_equivariant

__all__ = ["ALL_TARGETS", "ModelTestMixin"]

#: One target of every kind a model may produce.
ALL_TARGETS: tuple[Target, ...] = (
    Target("energy", "0e", "graph"),
    Target("dipole", "1o", "graph"),
    Target("quadrupole", "2e", "graph"),
    Target("charge", "0e", "node"),
    Target("force", "1o", "node"),
    Target("shape", "2e", "node"),
)


def _top_level_items(text: str) -> list[tuple[str, str]]:
    """``key=value`` pairs of a comma-separated ``extra_repr`` at bracket depth 0 (values that are
    lists or nested reprs are skipped)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            m = re.fullmatch(r"\s*(\w+)=([^()\[\]{}]+)\s*", text[start:i])
            if m:
                items.append((m.group(1), m.group(2).strip()))
            start = i + 1
    return items


class ModelTestMixin:
    """Shared model tests; subclasses define :meth:`make_model`."""

    #: targets the model under test is built with
    targets: tuple[Target, ...] = ALL_TARGETS
    #: the symmetry the model claims: "O3", "SO3" or a tensor of finite-group elements
    group: Any = "O3"
    #: relative equivariance tolerance in float64
    tol: float = 1e-10
    #: tolerance of compiled vs eager (float32)
    compile_tol: float = 1e-4
    #: backend for the compile test ("inductor" is what users get; "aot_eager" checks tracing only)
    compile_backend: str = "inductor"

    def make_model(self, targets: tuple[Target, ...]) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define make_model(self, targets)")

    def make_batch(self, dtype: torch.dtype = torch.float64) -> Batch:
        return random_molecules(num_graphs=3, min_nodes=4, max_nodes=7, num_types=5, seed=0, dtype=dtype)

    # -- helpers --------------------------------------------------------------------------------
    def build(self, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        with default_dtype(dtype):
            model = self.make_model(self.targets)
        return model.to(dtype).eval()

    # -- tests ----------------------------------------------------------------------------------
    def test_output_shapes(self) -> None:
        model = self.build()
        batch = self.make_batch()
        with default_dtype(torch.float64):
            out = model(batch)
        assert set(out) == {t.name for t in self.targets}
        for t in self.targets:
            n = batch.num_graphs if t.level == "graph" else batch.num_nodes
            assert out[t.name].shape == (n, t.irreps.dim), (t, tuple(out[t.name].shape))

    def test_equivariance(self) -> None:
        model = self.build()
        assert_equivariant(model, self.make_batch(), group=self.group, tol=self.tol)

    def test_batch_matches_single(self) -> None:
        model = self.build()
        batch = self.make_batch()
        with default_dtype(torch.float64), torch.no_grad():
            out = model(batch)
            for g, data in enumerate(batch.to_data_list()):
                single = model(Batch.from_data_list([data]))
                lo, hi = int(batch.ptr[g]), int(batch.ptr[g + 1])
                for t in self.targets:
                    ref = out[t.name][g : g + 1] if t.level == "graph" else out[t.name][lo:hi]
                    torch.testing.assert_close(single[t.name], ref, atol=1e-10, rtol=1e-8)

    def test_gradcheck(self) -> None:
        model = self.build()
        data = Batch.from_data_list([random_molecule(num_nodes=3, num_types=5, seed=1)])
        pos0 = data.pos.clone().requires_grad_(True)

        def f(pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
            d = data.clone()
            d.pos = pos
            out = model(d)
            return tuple(out[t.name] for t in self.targets)

        with default_dtype(torch.float64):
            assert torch.autograd.gradcheck(f, (pos0,), eps=1e-6, atol=1e-5, rtol=1e-4)

    def test_backward_finite(self) -> None:
        # every trainable parameter must take part: a finite gradient that is not identically zero
        # (a detached branch or an unused layer gets None or zeros, and would train nothing)
        model = self.build(dtype=torch.float32).train()
        batch = self.make_batch(dtype=torch.float32)
        out = model(batch)
        loss = sum(v.pow(2).mean() for v in out.values())
        assert loss.requires_grad, "the outputs do not depend on any parameter (detached?)"
        loss.backward()
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        assert trainable, f"{type(model).__name__} has no trainable parameters"
        missing = [n for n, p in trainable if p.grad is None]
        assert not missing, f"parameters without a gradient (detached or unused): {missing}"
        nonfinite = [n for n, p in trainable if not bool(torch.isfinite(p.grad).all())]
        assert not nonfinite, f"parameters with NaN/inf gradients: {nonfinite}"
        zero = [n for n, p in trainable if not bool((p.grad != 0).any())]
        assert not zero, f"parameters whose gradient is identically zero: {zero}"
        # a parameter whose effect cancels (a bias summed against a zero-mean basis, say) gets a
        # gradient of rounding size, not exactly zero: in float64 that is ~1e-16 of the gradients'
        # scale, while a parameter that takes part stays far above 1e-10 of it
        model64 = self.build(dtype=torch.float64).train()
        out64 = model64(self.make_batch(dtype=torch.float64))
        sum(v.pow(2).mean() for v in out64.values()).backward()
        size = {n: float(p.grad.abs().max()) for n, p in model64.named_parameters() if p.requires_grad}
        scale = max(size.values())
        dead = [f"{n} ({g / scale:.1e} of the largest)" for n, g in size.items() if g <= 1e-10 * scale]
        assert not dead, f"parameters whose gradient is rounding noise in float64 (effect cancels): {dead}"

    def test_compile_matches_eager(self) -> None:
        model = self.build(dtype=torch.float32)
        batch = self.make_batch(dtype=torch.float32)
        with torch.no_grad():
            eager = model(batch)
            compiled = torch.compile(model, backend=self.compile_backend, dynamic=True)(batch)
        for t in self.targets:
            torch.testing.assert_close(
                compiled[t.name], eager[t.name], atol=self.compile_tol, rtol=self.compile_tol
            )

    def test_repr(self) -> None:
        # the repr names the class and every target, and each scalar `key=value` it shows is the
        # model's own attribute (a repr that lies about a hyperparameter fails)
        model = self.build()
        text = repr(model)
        assert text.startswith(f"{type(model).__name__}("), text[:80]
        head = model.extra_repr()
        for t in self.targets:
            assert f"{t.name}:{t.level}:{t.irreps}" in head, (t, head)
        for key, value in _top_level_items(head):
            assert hasattr(model, key), f"repr shows {key}={value} but the model has no attribute {key!r}"
            attr = getattr(model, key)
            if isinstance(attr, (bool, int, float, str)):
                assert value in (repr(attr), str(attr)), f"repr shows {key}={value}, the model has {attr!r}"

    # -- the model conventions (#17: boundary checks, small constructors, reset_parameters) ------
    def test_host_syncs_only_at_the_boundary(self) -> None:
        # a model's forward synchronises device and host only in its value checks (validate ->
        # check_batch and the vector inputs): the layers inside make none
        from .sync import count_host_syncs

        model = self.build(dtype=torch.float32)
        batch = self.make_batch(dtype=torch.float32)
        with torch.no_grad():
            with count_host_syncs() as boundary:
                model.validate(batch)
            with count_host_syncs() as forward:
                model(batch)
        assert boundary.count > 0, "validate() makes no value checks"
        assert forward.ops == boundary.ops, (
            f"forward synchronised {dict(forward.ops)}, its value checks {dict(boundary.ops)}"
        )

    def test_constructor_is_small(self) -> None:
        # at most 8 constructor arguments (``**kwargs`` counts as one)
        import inspect

        model = self.build()
        params = [p for p in inspect.signature(type(model).__init__).parameters if p != "self"]
        assert len(params) <= 8, f"{type(model).__name__}.__init__ has {len(params)} arguments: {params}"

    def test_reset_parameters(self) -> None:
        # reset_parameters() re-draws the weights: a model built with seed 0, perturbed and reset
        # under seed 0 again differs from the perturbed one and gives finite outputs
        model = self.build()
        assert callable(getattr(model, "reset_parameters", None)), (
            f"{type(model).__name__} has no reset_parameters"
        )
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        before = [p.detach().clone() for p in model.parameters()]
        torch.manual_seed(1)
        model.reset_parameters()
        changed = [not torch.equal(a, p) for a, p in zip(before, model.parameters())]
        assert any(changed), "reset_parameters changed no parameter"
        batch = self.make_batch()
        with default_dtype(torch.float64), torch.no_grad():
            out = model(batch)
        assert all(bool(torch.isfinite(out[t.name]).all()) for t in self.targets)
