"Missing labels (issue 28): `ignore_index`/`ignore_nan` against smp's `SoftBCEWithLogitsLoss`, under flattening, per head, and their cost"
import pytest, torch, torch.nn.functional as F
from fastcore.test import test_close as close, test_eq, test_fail as fails
from segmentation_models_pytorch.losses import SoftBCEWithLogitsLoss
from fastai_losses.all import *

pytestmark = pytest.mark.multilabel

def _data(seed=0, shape=(16, 5), fill=-1.):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, dtype=torch.float64, generator=g)*2
    t = (torch.rand(shape, generator=g)>0.6).double()
    return x, torch.where(torch.rand(shape, generator=g)<0.3, fill, t)

@pytest.mark.parametrize('pw', [None, torch.tensor([1., 2., 5., .5, 3.], dtype=torch.float64)])
def test_bce_ignore_index_equals_smp(pw):
    "smp's `SoftBCEWithLogitsLoss(ignore_index)` zeroes the ignored values: equal under 'none' and 'sum'; its 'mean' divides by every value (smp#852), ours by the kept ones"
    x,t = _data()
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    smp = SoftBCEWithLogitsLoss(ignore_index=-1, reduction='sum', pos_weight=pw)
    ours = BCEWithLogitsLossFlat(ignore_index=-1, reduction='sum', pos_weight=pw)
    a,b = ours(x1, t),smp(x2, t)
    close(a, b, eps=1e-6)
    a.backward(); b.backward(); close(x1.grad, x2.grad, eps=1e-6)
    ours.reduction = smp.reduction = 'none'
    close(ours(x, t).flatten(), smp(x, t).flatten(), eps=1e-6)
    ours.reduction = smp.reduction = 'mean'
    kept = (t!=-1).sum()
    close(ours(x, t), smp(x, t)*t.numel()/kept, eps=1e-6)

def test_ignore_index_under_flattening():
    "Masks (N,C,H,W) with the class axis at 1 and a per-class `pos_weight`: the mean of the written-out loss over the kept values"
    x,t = _data(shape=(2, 3, 4, 4))
    pw = torch.tensor([1., 2., 4.], dtype=torch.float64).view(3, 1, 1)
    keep = t!=-1; tt = torch.where(keep, t, 0)
    per = -(pw*tt*F.logsigmoid(x) + (1-tt)*F.logsigmoid(-x))
    close(BCEWithLogitsLossFlat(axis=1, pos_weight=pw.flatten(), ignore_index=-1)(x, t), per[keep].mean(), eps=1e-6)

def test_class_index_targets_ignore_whole_item():
    "Class indices with `ignore_index` leave the whole item out (its one-hot row)"
    x = torch.randn(6, 4, dtype=torch.float64); t = torch.tensor([0, 3, -100, 1, -100, 2])
    keep = t!=-100
    ref = F.binary_cross_entropy_with_logits(x[keep], F.one_hot(t[keep], 4).double())
    close(BCEWithLogitsLossFlat(ignore_index=-100)(x, t), ref, eps=1e-6)

def test_missing_per_head_in_multitarget():
    "Each head of a `MultiTargetLoss` leaves its own missing labels out"
    x,t = _data(); y,u = torch.randn(16, 1, dtype=torch.float64),torch.randn(16, dtype=torch.float64)
    u[::3] = float('nan')
    mt = MultiTargetLoss(BCEWithLogitsLossFlat(ignore_index=-1), MSELossFlat(ignore_nan=True))
    k1,k2 = t!=-1,~u.isnan()
    ref = F.binary_cross_entropy_with_logits(x[k1], t[k1]) + F.mse_loss(y[:,0][k2], u[k2])
    close(mt((x, y), t, u), ref, eps=1e-6)

def test_nan_target_without_ignore_nan_is_named():
    "Without `ignore_nan`, a NaN target is a named error in the sigmoid losses (their range is read), which names the fix"
    x,t = _data(fill=float('nan'))
    for lf in (BCEWithLogitsLossFlat(), BinaryFocalLossFlat(), AsymmetricLossFlat()):
        fails(lambda: lf(x, t), contains="target holds nan; expected targets in [0, 1]; a missing target needs `ignore_nan=True`")
    fails(lambda: BCEWithLogitsLossFlat(ignore_index=-1)(x, t), contains="ignore_index=-1")
