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
