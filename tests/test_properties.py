"Hypothesis properties over random batch sizes and data, for every loss in the registry"
import pytest, torch
from hypothesis import given, strategies as st
from fastcore.test import test_close as close
from registry import CASES, IDS, gen, expected
from fastai_losses.core import MissingTargets

@pytest.mark.parametrize('case', CASES, ids=IDS)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1., 10.]))
def test_reductions_and_order(case, n, seed, scale):
    "'mean' is the (weighted) mean of 'none', 'sum' its sum, the loss is finite, and permuting the batch changes nothing"
    x,t = case.data(n, torch.float64, gen(seed))
    # logits scaled; probabilities (a sigmoid's output) through their logits, so that they stay in [0, 1]
    x = torch.sigmoid(torch.logit(x)*scale) if case.tail is torch.nn.Sigmoid else x*scale
    lf = case.make(); lf.reduction = 'none'; per = lf(x, t)
    assert torch.isfinite(per).all()
    if case.nonneg: assert (per>=0).all()
    lf.reduction = 'mean'; m = lf(x, t)
    def rclose(a, b): close(a, b, eps=1e-5*max(1., b.abs().max().item())) # relative for large losses (Poisson's e^x)
    lf.reduction = 'sum'; rclose(lf(x, t), expected(case, x, t, per, 'sum') if case.ref_sum else m*n if case.ref_mean else per.sum())
    if not case.ref_mean: rclose(m, expected(case, x, t, per, 'mean'))
    perm = torch.randperm(n, generator=gen(seed+1))
    rclose(lf(x[perm], t[perm]), lf(x, t))

def _perfect(case, x, t):
    "Logits that predict `t` with certainty (a soft mask: exactly)"
    if case.soft: return torch.logit(t if t.ndim==x.ndim else t.unsqueeze(1))
    if case.kind=='reg': return t[:,None].clone()
    if case.kind=='count': return t[:,None].clamp_min(1e-30).log() # the log-rate that predicts the count: Poisson's minimum
    if case.kind in ('cls','seg'):
        t = t.squeeze(1) if t.ndim==x.ndim else t # (N,1,d1,...) masks
        t = torch.where((t>=0)&(t<x.shape[1]), t, 0) # ignored items (-100, 255): any logits
        return torch.nn.functional.one_hot(t, x.shape[1]).movedim(-1, 1).to(x.dtype)*40-20
    if case.kind in ('ml','segml'): return (2*t.to(x.dtype)-1)*20
    if case.kind=='segb': return ((2*t.to(x.dtype)-1)*20).unsqueeze(1)

SMOOTHED = ('LabelSmoothing', 'focal+ls', 'alpha-weight-ls', 'BCEWithLogitsLossFlat-ls', 'AsymmetricSingleLabel') # label smoothing's minimum is above 0, at a softened prediction
@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_perfect_prediction_is_minimal(case):
    "A certain, correct prediction scores at most what a random one does, and 0 where the minimum is 0"
    if case.kind not in ('reg','count','cls','ml','segml','seg','segb') or case.tail: pytest.skip(f"{case.kind}: no single perfect prediction to build")
    if any(s in case.id for s in SMOOTHED): pytest.skip("label smoothing penalises certainty: its minimum is at a softened prediction")
    x,t = case.data(16, torch.float64, gen(0))
    lf = case.make()
    best,rand = lf(_perfect(case, x, t.nan_to_num(0.) if t.is_floating_point() else t), t),lf(x, t) # NaN: a missing target
    assert best <= rand
    if case.nonneg: close(best, torch.zeros(()), eps=1e-6) # a loss that can be negative (the boundary loss) has no 0 minimum

# per-class tensors (weight, a per-class alpha) lie along the Flat's class axis, but along the module's last axis
@pytest.mark.parametrize('case', [c for c in CASES if c.kind in ('cls','ml') and 'weight' not in c.id and not c.id.endswith('-alpha') and not c.spatial], ids=lambda c: c.id)
def test_flat_on_images_equals_module(case):
    "The Flat form with the class axis at 1 on (N,C,H,W) equals the module on the same unflattened data"
    x,t = case.data(2*3*4, torch.float64, gen(0))
    x4 = x.view(2, 3, 4, -1).permute(0, 3, 1, 2).contiguous() # (N,C,H,W)
    t4 = t.view(2, 3, 4) if case.kind=='cls' else t.view(2, 3, 4, -1).permute(0, 3, 1, 2).contiguous()
    lf = case.make(); lf.axis = 1
    mod = getattr(lf, 'func', None)
    if not isinstance(mod, torch.nn.Module): pytest.skip('no module form')
    if isinstance(lf, MissingTargets) and lf.missing(t4) is not None: pytest.skip('the Flat leaves missing targets out; its module does not')
    close(lf(x4, t4), mod(x4, t4))
