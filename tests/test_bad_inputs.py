"The bad-input matrix: every loss rejects bad input with a clear `ValueError`/`TypeError` naming the loss and the shapes or dtypes"
import pytest, torch
from fastcore.test import test_fail as fails
from registry import CASES, IDS, gen

def _data(case, n=8): return case.data(n, torch.float32, gen(0))

def test_wrong_target_shape(case):
    x,t = _data(case)
    lf = case.make(); nm = type(getattr(lf, 'losses', [lf])[0]).__name__ # a CombinedLoss fails in its first term
    fails(lambda: lf(x, t[:4]), contains=f"{nm}: input {tuple(x.shape)}")

def test_integer_input(case):
    x,t = _data(case)
    fails(lambda: case.make()(x.long(), t), contains="expected a floating point tensor")

def test_empty_batch(case):
    x,t = _data(case)
    fails(lambda: case.make()(x[:0], t[:0]), contains="empty batch")

def test_float_class_targets(case):
    if case.kind!='cls': pytest.skip('targets are real values here')
    x,t = _data(case)
    fails(lambda: case.make()(x, t.float()), contains="holds float class indices; expected an integer tensor")

def test_one_hot_targets_for_class_losses(case):
    if case.kind!='cls': pytest.skip('targets are one per value here')
    x,t = _data(case)
    fails(lambda: case.make()(x, torch.nn.functional.one_hot(t.clamp_min(0), x.shape[1])), contains="one-hot")

def test_missing_class_axis(case):
    if case.kind not in ('cls','quant','gauss') or case.spatial: pytest.skip('no class axis, or a spatial one: x[:,0] is then a valid input')
    x,t = _data(case)
    fails(lambda: case.make()(x[:,0], t), contains="holds 1 items but target")

def test_bad_reduction(case):
    x,t = _data(case)
    lf = case.make(); lf.reduction = 'avg'
    fails(lambda: lf(x, t), contains="expected one of ('mean', 'sum', 'none')")

def test_nan_propagates_unless_checked(case):
    "NaN in the input propagates by default (a check would sync the device); `check_values=True` raises"
    x,t = _data(case); x[0] = float('nan')
    lf = case.make()
    assert torch.isnan(lf(x, t))
    lf.check_values = True
    fails(lambda: lf(x, t), contains="NaN or inf")

def test_all_ignored_is_zero(case):
    if case.kind!='cls': pytest.skip('no ignore_index')
    x,t = _data(case); x.requires_grad_()
    loss = case.make()(x, torch.full_like(t, -100))
    loss.backward()
    assert loss.item()==0 and (x.grad==0).all()

def test_target_on_another_device(case):
    "A target on another device than the input is named (`meta` stands in for a GPU), rather than failing deep in torch or computing"
    x,t = _data(case)
    lf = case.make(); nm = type(getattr(lf, 'losses', [lf])[0]).__name__
    fails(lambda: lf(x, t.to('meta')), contains=f"{nm}: target is on meta but input is on cpu")

SOFTMAX = ('cls','seg','soft','logit')
def test_single_class_softmax_refused(case):
    "A softmax over one class is constant: every softmax loss refuses C=1 by name instead of returning 0 for every input"
    if case.kind not in SOFTMAX or case.tail: pytest.skip('no softmax over the class axis')
    x,t = _data(case)
    ax = 1 if case.spatial or case.kind.startswith('seg') else -1
    x1 = x.narrow(ax, 0, 1).contiguous()
    t1 = t.narrow(ax, 0, 1).contiguous() if t.is_floating_point() else torch.zeros_like(t)
    fails(lambda: case.make()(x1, t1), contains="a softmax over one class is constant")

import inspect
from fastai_losses.all import LovaszSoftmaxLossFlat, seg_modes
from registry import by_family, loss_classes, family_param
SEG_LOSSES = [(m, mode) for m in loss_classes(by_family('segmentation')) # every mode a loss takes
              for mode in (seg_modes if 'mode' in inspect.signature(m).parameters else ('multiclass',))]
@pytest.mark.parametrize('make,mode', [family_param(m, mode, family='segmentation', id=f"{m.__name__}-{mode}") for m,mode in SEG_LOSSES])
@pytest.mark.parametrize('per_image', [False, True])
@pytest.mark.parametrize('shape', [(2,3,4,4), (2,3,2,3,3)], ids=['2d','3d'])
def test_segmentation_every_pixel_ignored(make, mode, per_image, shape):
    "Every pixel at `ignore_index`: loss 0 under each reduction, and zero gradients, as a batch that teaches nothing"
    c = 1 if mode=='binary' else shape[1]
    x = torch.randn(shape[0], c, *shape[2:], requires_grad=True)
    t = torch.full((shape[0], *shape[2:]) if mode!='multilabel' else x.shape, 255, dtype=torch.long if mode=='multiclass' else torch.float)
    kw = {} if make is LovaszSoftmaxLossFlat else dict(mode=mode)
    lf = make(ignore_index=255, per_image=per_image, **kw)
    loss = lf(x, t); loss.backward()
    assert loss.item()==0 and (x.grad==0).all()
    lf.reduction = 'none'; per = lf(x, t)
    assert per.shape==(shape[0],) and (per==0).all()
