"Hypothesis properties over random batch sizes and data, for every loss in the registry"
import pytest, torch
from hypothesis import given, strategies as st
from fastcore.test import test_close as close
from registry import CASES, IDS, gen, expected

@pytest.mark.parametrize('case', CASES, ids=IDS)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1., 10.]))
def test_reductions_and_order(case, n, seed, scale):
    "'mean' is the (weighted) mean of 'none', 'sum' its sum, the loss is finite, and permuting the batch changes nothing"
    x,t = case.data(n, torch.float64, gen(seed)); x = x*scale
    lf = case.make(); lf.reduction = 'none'; per = lf(x, t)
    assert torch.isfinite(per).all()
    if case.nonneg: assert (per>=0).all()
    lf.reduction = 'mean'; m = lf(x, t)
    lf.reduction = 'sum'; close(lf(x, t), expected(case, x, t, per, 'sum') if case.ref_sum else m*n if case.ref_mean else per.sum())
    if not case.ref_mean: close(m, expected(case, x, t, per, 'mean'))
    perm = torch.randperm(n, generator=gen(seed+1))
    close(lf(x[perm], t[perm]), lf(x, t))
