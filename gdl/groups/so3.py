r"""Maps on :math:`SO(3)` and :math:`O(3)`: exponential and logarithm, quaternions, seeded Haar
sampling, checks, and Wigner-D matrices.

Conventions: rotations act on column vectors, ``x' = R @ x``; for row-stacked points ``[N, 3]`` this
is ``x @ R.T``. Rotation vectors :math:`\omega \in \mathbb{R}^3` are axis times angle
(:math:`\exp(\omega) = \exp([\omega]_\times)`), angles in :math:`[0, \pi]`. Quaternions are
``(w, x, y, z)`` with ``w = cos(θ/2)``.

e3nn's rotation helpers are used where they exist (``axis_angle_to_matrix``,
``quaternion_to_matrix``, the Clebsch–Gordan coefficients behind :func:`wigner_D`). The logarithm is
written here because e3nn's
``matrix_to_axis_angle`` reads the axis off the antisymmetric part, which vanishes at θ = π, where
Haar measure has its highest density; :func:`matrix_to_quaternion` uses Shepperd's branch-free
pivoting and is accurate at every angle.
"""

from __future__ import annotations

import functools
import math

import torch
from e3nn import o3

from ..dtype import default_dtype

__all__ = [
    "as_generator",
    "check_rotations",
    "exp",
    "geodesic_distance",
    "haar",
    "haar_o3",
    "is_orthogonal",
    "is_rotation",
    "log",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "rotation_angle",
    "axis_angle_to_matrix",
    "wigner_D",
]


def as_generator(
    seed: int | torch.Generator | None, device: torch.device | str | None = None
) -> torch.Generator:
    """A ``torch.Generator`` from a seed, an existing generator (returned as is) or ``None`` (a fresh
    generator seeded from torch's global RNG, so ``torch.manual_seed`` still controls it)."""
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device if device is not None else "cpu")
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    gen.manual_seed(int(seed))
    return gen


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` about ``axis`` (normalised here): ``[..., 3], [...] -> [..., 3, 3]`` (e3nn).
    ``angle`` is cast to the dtype of ``axis``."""
    angle = torch.as_tensor(angle, dtype=axis.dtype, device=axis.device)
    return o3.axis_angle_to_matrix(axis, angle)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``[..., 4]`` (w, x, y, z) to rotation matrices ``[..., 3, 3]`` (e3nn)."""
    return o3.quaternion_to_matrix(q)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` to unit quaternions ``[..., 4]`` with ``w >= 0``.

    Shepperd's method: of the four candidate formulas, each entry uses the one with the largest
    pivot, so the result is accurate at every rotation angle (including θ = π).
    """
    m = R
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # four squared candidates: 4w², 4x², 4y², 4z² (each >= 0 up to rounding)
    cand = torch.stack(
        [1 + tr, 1 + 2 * m[..., 0, 0] - tr, 1 + 2 * m[..., 1, 1] - tr, 1 + 2 * m[..., 2, 2] - tr], dim=-1
    )
    k = cand.argmax(dim=-1, keepdim=True)  # [..., 1]
    s = torch.sqrt(cand.gather(-1, k).clamp_min(0)) * 2  # 4 * |q_k|
    # unnormalised quaternions for each pivot; rows: pivot w, x, y, z
    a = m[..., 2, 1] - m[..., 1, 2]
    b = m[..., 0, 2] - m[..., 2, 0]
    c = m[..., 1, 0] - m[..., 0, 1]
    d = m[..., 0, 1] + m[..., 1, 0]
    e = m[..., 0, 2] + m[..., 2, 0]
    f = m[..., 1, 2] + m[..., 2, 1]
    c0, c1, c2, c3 = (cand[..., i] for i in range(4))
    options = torch.stack(
        [
            torch.stack([c0, a, b, c], dim=-1),
            torch.stack([a, c1, d, e], dim=-1),
            torch.stack([b, d, c2, f], dim=-1),
            torch.stack([c, e, f, c3], dim=-1),
        ],
        dim=-2,
    )  # [..., 4 pivots, 4 comps]
    q = options.gather(-2, k.unsqueeze(-1).expand(*k.shape[:-1], 1, 4)).squeeze(-2) / s
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation matrices ``[..., 3, 3]`` to (unit axis ``[..., 3]``, angle in ``[0, π]``).

    At θ = 0 the axis is arbitrary and returned as ``(0, 0, 1)``."""
    q = matrix_to_quaternion(R)
    v = q[..., 1:]
    n = v.norm(dim=-1)
    angle = 2 * torch.atan2(n, q[..., 0])
    z = torch.zeros_like(v)
    z[..., 2] = 1
    axis = torch.where((n > 0).unsqueeze(-1), v / n.clamp_min(torch.finfo(v.dtype).tiny).unsqueeze(-1), z)
    return axis, angle


def exp(omega: torch.Tensor) -> torch.Tensor:
    r"""Exponential map ``[..., 3] -> [..., 3, 3]`` from rotation vectors (axis × angle).

    Rodrigues' formula :math:`I + \frac{\sin\theta}{\theta} K + \frac{1 - \cos\theta}{\theta^2} K^2`
    with :math:`K = [\omega]_\times`, :math:`\theta = \lVert\omega\rVert`, and Taylor series of both
    coefficients for :math:`\theta < 10^{-3}`: differentiable everywhere, including :math:`\omega = 0`
    and axes along a coordinate axis (where e3nn's angle-based ``axis_angle_to_matrix`` has NaN
    gradients), so rotations can be learned through it.
    """
    th2 = (omega * omega).sum(dim=-1)
    small = th2 < 1e-6
    th2_safe = torch.where(small, torch.ones_like(th2), th2)
    th = torch.sqrt(th2_safe)
    a = torch.where(small, 1 - th2 / 6 + th2 * th2 / 120, torch.sin(th) / th)
    b = torch.where(small, 0.5 - th2 / 24 + th2 * th2 / 720, (1 - torch.cos(th)) / th2_safe)
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def log(R: torch.Tensor) -> torch.Tensor:
    """Logarithm map ``[..., 3, 3] -> [..., 3]``: the rotation vector with angle in ``[0, π]``."""
    axis, angle = matrix_to_axis_angle(R)
    return axis * angle.unsqueeze(-1)


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """The rotation angle in ``[0, π]`` of rotation matrices ``[..., 3, 3]``."""
    return matrix_to_axis_angle(R)[1]


def geodesic_distance(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle of ``R1ᵀ R2``: the geodesic distance on SO(3), in ``[0, π]``."""
    return rotation_angle(R1.transpose(-1, -2) @ R2)


def haar(
    n: int,
    generator: int | torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` rotation matrices ``[n, 3, 3]`` drawn from the Haar (uniform) measure on SO(3).

    Normalised Gaussian quaternions are uniform on S³, and S³ → SO(3) pushes that to Haar measure;
    the rotation angle then has density ``(1 - cos θ)/π`` on ``[0, π]``.

    Args:
        n: number of samples.
        generator: a seed or a ``torch.Generator`` for reproducible draws (default: torch's global RNG).
        dtype: default torch's default dtype.
        device: default CPU.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    dtype = dtype or torch.get_default_dtype()
    gen = as_generator(generator, device="cpu") if generator is not None else None
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    q = torch.nn.functional.normalize(q, dim=-1)
    return quaternion_to_matrix(q).to(dtype=dtype, device=device)


def haar_o3(
    n: int,
    generator: int | torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` Haar-random elements of O(3): rotations times ±1 with equal probability."""
    gen = as_generator(generator) if generator is not None else None
    R = haar(n, gen, dtype=torch.float64)
    sign = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    return (R * sign[:, None, None]).to(dtype=dtype or torch.get_default_dtype(), device=device)


def is_orthogonal(R: torch.Tensor, atol: float = 1e-5) -> torch.Tensor:
    """Whether each ``[..., 3, 3]`` matrix satisfies ``RᵀR = I`` within ``atol``."""
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    return (R.transpose(-1, -2) @ R - eye).abs().amax(dim=(-1, -2)) <= atol


def is_rotation(R: torch.Tensor, atol: float = 1e-5) -> torch.Tensor:
    """Whether each ``[..., 3, 3]`` matrix is a proper rotation (orthogonal, det = +1) within ``atol``."""
    return is_orthogonal(R, atol) & ((torch.linalg.det(R) - 1).abs() <= atol)


def check_rotations(
    R: torch.Tensor, name: str = "rotations", atol: float = 1e-5, proper: bool = True
) -> torch.Tensor:
    """Validate a stack of rotation matrices ``[A, 3, 3]`` and return it; raise a clear error otherwise.

    Args:
        R: the matrices.
        name: what to call them in the error.
        atol: tolerance on orthogonality and determinant.
        proper: require det = +1 (SO(3)); otherwise any orthogonal matrix (O(3)).
    """
    if not isinstance(R, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape [A, 3, 3], got {type(R).__name__}")
    if R.dim() != 3 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape [A, 3, 3], got {tuple(R.shape)}")
    if R.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one rotation is required")
    if not torch.isfinite(R).all():
        raise ValueError(f"{name} contain NaN or inf")
    ok = is_rotation(R, atol) if proper else is_orthogonal(R, atol)
    if not bool(ok.all()):
        bad = (~ok).nonzero().flatten()[:5].tolist()
        det = torch.linalg.det(R[bad]).tolist()
        what = "rotation matrices (orthogonal with det = +1)" if proper else "orthogonal matrices"
        raise ValueError(
            f"{name} must be {what} within atol={atol}; entries {bad} are not "
            f"(det = {[round(d, 6) for d in det]})"
        )
    return R


@functools.cache
def _coupling(l: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """e3nn's Clebsch–Gordan coefficients ``[2l-1, 3, 2l+1]`` coupling ``(l-1) x 1 -> l``, scaled so
    that, reshaped to ``[(2l-1) 3, 2l+1]``, they are an isometry."""
    with default_dtype(torch.float64):
        C = o3.wigner_3j(l - 1, 1, l) * math.sqrt(2 * l + 1)
    return C.to(dtype=dtype, device=device)


def _wigner_D_proper(l: int, R: torch.Tensor) -> torch.Tensor:
    r"""``D^l(R) [..., 2l+1, 2l+1]`` of proper rotations, by Clebsch–Gordan recursion from
    :math:`D^1(R) = R`: :math:`D^l = C_l^\top (D^{l-1} \otimes R)\, C_l`."""
    if l == 0:
        return torch.ones(*R.shape[:-2], 1, 1, dtype=R.dtype, device=R.device)
    D = R
    for k in range(2, l + 1):
        C = _coupling(k, R.dtype, str(R.device))  # [2k-1, 3, 2k+1]
        left = torch.einsum("ija,...im,...jn->...amn", C, D, R)  # [..., 2k+1, 2k-1, 3]
        D = torch.einsum("...amn,mnb->...ab", left, C)
    return D


def wigner_D(irreps: o3.Irreps | str, R: torch.Tensor) -> torch.Tensor:
    r"""The block-diagonal Wigner-D matrices ``[..., d, d]`` of ``irreps`` for O(3) elements ``[..., 3, 3]``,
    in e3nn's basis (e3nn 0.6 orders ``1o`` as x, y, z, so :math:`D^{1o}(R) = R`).

    Improper elements (det = -1) include the parity of each irrep. The matrices are built from
    :math:`R` itself by Clebsch–Gordan recursion, :math:`D^l = C_l^\top (D^{l-1} \otimes R)\, C_l`
    with e3nn's coefficients, not through Euler angles as e3nn's ``Irreps.D_from_matrix`` does:
    the angles are ill-conditioned at :math:`eta \in \{0, \pi\}` (gimbal lock), where the
    rotations of the finite groups lie (a half-turn of the octahedral group gave
    :math:`D^{1o}` wrong by 3e-11 in float64 through the angles; the recursion is polynomial in
    :math:`R`, accurate to a few ulps at every rotation). The result has ``R``'s dtype.
    """
    irreps = o3.Irreps(irreps)
    if not R.is_floating_point():
        R = R.to(torch.get_default_dtype())
    det = torch.linalg.det(R)  # [...]
    proper = R * det.sign()[..., None, None]
    out = R.new_zeros(*R.shape[:-2], irreps.dim, irreps.dim)
    cache: dict[int, torch.Tensor] = {}
    offset = 0
    for mul, ir in irreps:
        if ir.l not in cache:
            cache[ir.l] = _wigner_D_proper(ir.l, proper)
        D = cache[ir.l]
        if ir.p == -1:
            D = D * det.sign()[..., None, None]  # odd irreps change sign under inversion
        d = 2 * ir.l + 1
        for _ in range(mul):
            out[..., offset : offset + d, offset : offset + d] = D
            offset += d
    return out


def _angle_cdf(theta: torch.Tensor) -> torch.Tensor:
    """CDF of the Haar rotation angle, ``(θ - sin θ)/π`` (used by tests)."""
    return (theta - torch.sin(theta)) / math.pi
