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
    fails(lambda: case.make()(x, torch.nn.functional.one_hot(t, x.shape[1])), contains="one-hot")

def test_missing_class_axis(case):
    if case.kind not in ('cls','quant','gauss'): pytest.skip('no class axis')
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
