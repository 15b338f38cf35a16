"Each loss against an independent reference: value and input gradient in float64, every reduction, and `gradcheck`"
import pytest, torch
from fastcore.test import test_close as close
from registry import CASES, IDS, gen, expected

def _both(case, reduction, n=24, seed=0):
    x,t = case.data(n, torch.float64, gen(seed))
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    lf = case.make(); lf.reduction = reduction
    ours = lf(x1, t)
    per = case.ref(x2, t)
    ref = expected(case, x2, t, per, reduction)
    return x1,x2,ours,ref

@pytest.mark.parametrize('reduction', ['mean','sum','none'])
def test_reference_value_and_grad(case, reduction):
    x1,x2,ours,ref = _both(case, reduction)
    assert ours.dtype==torch.float64
    close(ours.flatten() if reduction=='none' else ours, ref.flatten() if reduction=='none' else ref, eps=1e-5)
    g = torch.randn(ours.shape, dtype=torch.float64, generator=gen(1))
    (ours*g.view_as(ours)).sum().backward(); (ref*g.view_as(ref)).sum().backward()
    close(x1.grad, x2.grad, eps=1e-5)

def test_gradcheck(case):
    x,t = case.data(6, torch.float64, gen(2))
    lf = case.make()
    assert torch.autograd.gradcheck(lambda x: lf(x, t), (x.requires_grad_(),))

def test_mean_sum_consistent_with_none(case):
    x,t = case.data(32, torch.float64, gen(3))
    lf = case.make(); lf.reduction = 'none'; per = lf(x, t)
    lf.reduction = 'mean'; m = lf(x, t)
    lf.reduction = 'sum';  s = lf(x, t)
    if case.ref_mean: close(s, expected(case, x, t, per, 'sum') if case.ref_sum else m*x.shape[0]); return # a Dice-like batch score is not a mean of the per-image values
    close(s, per.sum())
    close(m, per.sum()/(case.mean_den(x, t) if case.mean_den else per.numel()))

def test_none_is_batch_major(case):
    "fastai's `GatherPredsCallback` does `loss.view(bs,-1).mean(1)`: item i's losses must come from sample i"
    if case.batchwise: pytest.skip(f"{case.id} mines pairs within the batch: an item's loss depends on the others")
    x,t = case.data(8, torch.float64, gen(4))
    lf = case.make(); lf.reduction = 'none'
    full = lf(x, t).view(8, -1)
    for i in (0, 5): close(full[i], lf(x[i:i+1], t[i:i+1]).view(-1))

def test_nonnegative(case):
    if not case.nonneg: pytest.skip(f"{case.id} can be negative (a log-likelihood)")
    x,t = case.data(64, torch.float64, gen(5))
    lf = case.make(); lf.reduction = 'none'
    assert (lf(x, t)>=0).all()

def test_batch_order_invariant(case):
    x,t = case.data(16, torch.float64, gen(6))
    perm = torch.randperm(16, generator=gen(7))
    lf = case.make()
    close(lf(x, t), lf(x[perm], t[perm]))
