"""The fast evaluation paths of the model's building blocks equal their defining dense sums."""
import string

import numpy as np
import pytest
import torch

from mmace_fast.model.ops import per_channel_irreps
from mmace_fast.model.symmetric_contraction import SymmetricContraction


def dense_symmetric_contraction(sc: SymmetricContraction, a, attrs):
    """B[n, c, M] = sum_nu sum_eta W(attrs)[n, eta, c] U[eta, M, d1..dnu] A[d1] ... A[dnu]."""
    outs = []
    for k in range(len(sc.out_blocks)):
        total = 0.0
        for nu in range(1, sc.correlation + 1):
            u, w = getattr(sc, f"U_{k}_{nu}"), getattr(sc, f"W_{k}_{nu}")
            if u.shape[0] == 0:
                continue
            wn = torch.einsum("na,aec->nec", attrs, w)
            idx = string.ascii_lowercase[8:8 + nu]
            operands = [u, wn] + [a] * nu
            spec = f"em{idx},nec," + ",".join(f"nc{x}" for x in idx) + "->ncm"
            total = total + torch.einsum(spec, *operands)
        outs.append(total)
    return torch.cat(outs, dim=2)


@pytest.mark.parametrize("l_in,parity,l_out,correlation", [(2, "natural", 1, 3),
                                                           (1, "both", 1, 3),
                                                           (1, "natural", 0, 4),
                                                           (3, "natural", 1, 1)])
def test_symmetric_contraction_equals_dense_sum(l_in, parity, l_out, correlation):
    torch.manual_seed(0)
    irreps_in = per_channel_irreps(l_in, parity)
    irreps_out = per_channel_irreps(l_out, parity)
    sc = SymmetricContraction(irreps_in, irreps_out, correlation, n_channels=3, n_attr=4)
    a = torch.randn(5, 3, irreps_in.dim)
    attrs = torch.randn(5, 4)
    fast = sc(a, attrs)
    ref = dense_symmetric_contraction(sc, a, attrs)
    assert fast.shape == ref.shape == (5, 3, irreps_out.dim)
    assert float(ref.detach().abs().max()) > 1e-2
    np.testing.assert_allclose(fast.detach(), ref.detach(), rtol=0,
                               atol=1e-13 * float(ref.detach().abs().max()))
    # gradients too (what forces and training differentiate)
    a.requires_grad_(True)
    g_fast = torch.autograd.grad((sc(a, attrs) ** 2).sum(), a)[0]
    g_ref = torch.autograd.grad((dense_symmetric_contraction(sc, a, attrs) ** 2).sum(), a)[0]
    np.testing.assert_allclose(g_fast, g_ref, rtol=0, atol=1e-12 * float(g_ref.abs().max()))


def test_symmetric_contraction_state_dict_unchanged():
    """Only U_k_nu buffers and W_k_nu parameters are persistent (the exporter's view)."""
    sc = SymmetricContraction(per_channel_irreps(2, "natural"), per_channel_irreps(1, "natural"),
                              3, n_channels=2, n_attr=3)
    keys = set(sc.state_dict())
    assert keys == {f"{x}_{k}_{nu}" for x in "UW" for k in range(2) for nu in (1, 2, 3)}


def test_loaded_basis_is_the_one_evaluated():
    """The generalised CG basis U is unique only up to a rotation within each (k, nu) space, and
    another machine's LAPACK may return another one: a state_dict carries the U its weights W
    were trained with, and after loading the evaluation must use that U (the folded basis is
    rebuilt), not the one computed at construction. Here U -> -U, W -> -W for every (k, nu)
    is the same function, so a fresh module loaded with it must agree with the original."""
    irreps_in, irreps_out = per_channel_irreps(2, "natural"), per_channel_irreps(1, "natural")
    torch.manual_seed(0)
    sc = SymmetricContraction(irreps_in, irreps_out, 3, n_channels=2, n_attr=3)
    a = torch.randn(5, 2, irreps_in.dim, dtype=torch.float64)
    attrs = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 1, 0]), 3).double()
    ref = sc(a, attrs)
    flipped = {k: -v for k, v in sc.state_dict().items()}
    torch.manual_seed(1)
    other = SymmetricContraction(irreps_in, irreps_out, 3, n_channels=2, n_attr=3)
    other.load_state_dict(flipped)
    assert not torch.equal(other.U_0_2, sc.U_0_2)
    np.testing.assert_allclose(other(a, attrs).detach(), ref.detach(), rtol=0,
                               atol=1e-13 * float(ref.abs().max()))


def test_loading_keeps_the_module_dtype():
    """A module converted to float32 before loading (model.io.load_model(dtype=float32) does so)
    evaluates in float32 after the plan is rebuilt from the loaded basis."""
    irreps_in, irreps_out = per_channel_irreps(1, "natural"), per_channel_irreps(1, "natural")
    torch.manual_seed(0)
    sc = SymmetricContraction(irreps_in, irreps_out, 2, n_channels=2, n_attr=2)
    sd = {k: v.float() for k, v in sc.state_dict().items()}
    other = SymmetricContraction(irreps_in, irreps_out, 2, n_channels=2, n_attr=2).float()
    other.load_state_dict(sd)
    a = torch.randn(3, 2, irreps_in.dim, dtype=torch.float64)
    attrs = torch.nn.functional.one_hot(torch.tensor([0, 1, 0]), 2).double()
    out = other(a.float(), attrs.float())
    assert out.dtype == torch.float32 and other.folded_basis.dtype == torch.float32
    np.testing.assert_allclose(out.detach().double(), sc(a, attrs).detach(), rtol=1e-5, atol=1e-5)
