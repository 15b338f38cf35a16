"The bad-input matrix: every loss rejects bad input with a clear `ValueError`/`TypeError` naming the loss and the shapes or dtypes"
import pytest, torch
from fastcore.test import test_fail as fails
from registry import CASES, IDS, gen
from fastai_losses.core import MissingTargets

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
    fails(lambda: case.make()(x[:,0], t), contains="holds 1 items but target" if case.kind=='cls' else "outputs per target")

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
    "A batch whose targets are all missing (`ignore_index`, or NaN with `ignore_nan`) gives 0 with zero gradients, not NaN"
    lf = case.make()
    fill = (-100 if case.kind=='cls' else None if not isinstance(lf, MissingTargets) else
            float('nan') if lf.ignore_nan else lf.ignore_index)
    if fill is None: pytest.skip('no ignore_index')
    x,t = _data(case); x.requires_grad_()
    loss = lf(x, torch.full_like(t, fill))
    loss.backward()
    # learned weights (Kendall et al. 2018) add Σ s_i, which no item carries: that sum, with no gradient to the input
    s = lf.log_vars.sum().item() if getattr(lf, 'scheme', None)=='uncertainty' else 0
    assert loss.item()==pytest.approx(s, abs=1e-6) and (x.grad==0).all()

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
def _takes(m, mode):
    "Whether loss class `m` takes `mode` (the Lovász hinge takes no 'multiclass')"
    try: m(mode=mode); return True
    except ValueError: return False
SEG_LOSSES = [(m, mode) for m in loss_classes(by_family('segmentation')) # every mode a loss takes
              for mode in (seg_modes if 'mode' in inspect.signature(m).parameters else ('multiclass',))
              if 'mode' not in inspect.signature(m).parameters or _takes(m, mode)]
@pytest.mark.parametrize('make,mode', [family_param(m, mode, family='segmentation', id=f"{m.__name__}-{mode}") for m,mode in SEG_LOSSES])
@pytest.mark.parametrize('per_image', [False, True])
@pytest.mark.parametrize('shape', [(2,3,4,4), (2,3,2,3,3)], ids=['2d','3d'])
def test_segmentation_every_pixel_ignored(make, mode, per_image, shape):
    "Every pixel at `ignore_index`: loss 0 under each reduction, and zero gradients, as a batch that teaches nothing"
    c = 1 if mode=='binary' else shape[1]
    x = torch.randn(shape[0], c, *shape[2:], requires_grad=True)
    t = torch.full((shape[0], *shape[2:]) if mode!='multilabel' else x.shape, 255, dtype=torch.long if mode=='multiclass' else torch.float)
    kw = {} if make is LovaszSoftmaxLossFlat else dict(mode=mode)
    if 'per_image' in inspect.signature(make).parameters: kw['per_image'] = per_image # pixel-mean losses have none
    elif per_image: pytest.skip(f"{make.__name__} has no per_image")
    lf = make(ignore_index=255, **kw)
    loss = lf(x, t); loss.backward()
    assert loss.item()==0 and (x.grad==0).all()
    lf.reduction = 'none'; per = lf(x, t)
    assert per.shape==(shape[0],) and (per==0).all()

# Target values out of range (issue 25): a mask saved as 0/255, a void label of 255 or -1, class C of C classes, 0/1 targets holding 2.
# The value range is read on the first batch a loss sees (one device sync per loss object) and on every batch with `check_values`.
import copy, pickle, inspect, numpy as np
from fastai_losses.core import FlatLoss
LABELS = ('emb','pair','rank') # integer targets that are labels or signs, not indices into the input's class axis
UNIT_KINDS = ('ml','segb','segml') # one target per logit, 0/1 or soft in [0, 1]

def _terms(lf): return getattr(lf, 'losses', [lf])
def _cls_axis(case): return 1 if case.spatial or case.kind.startswith('seg') else -1
def _is_index(case, x, t):
    "Integer targets with one class index per slice of the input along its class axis"
    if case.kind in LABELS or t.is_floating_point() or t.dtype==torch.bool: return False
    return x.shape[_cls_axis(case)]>1 and t.numel()*x.shape[_cls_axis(case)]==x.numel()
def _with(t, v):
    t = t.clone(); t.view(-1)[3] = v; return t
def _ignored(lf, v): return any(getattr(l, 'ignore_index', None)==v for l in _terms(lf))

def _fails_named(lf, x, t, v):
    with pytest.raises(ValueError) as e: lf(x, t)
    msg = str(e.value)
    assert type(_terms(lf)[0]).__name__ in msg and str(v) in msg, msg

@pytest.mark.parametrize('bad', [255, -1, 'n_cls'])
def test_class_index_out_of_range_named(case, bad):
    "An index outside [0, C) that is not `ignore_index` is a named `ValueError`, on the first batch and, with `check_values`, on any"
    x,t = _data(case)
    if not _is_index(case, x, t): pytest.skip('targets are not class indices')
    v = x.shape[_cls_axis(case)]+(case.kind=='ord') if bad=='n_cls' else bad # K-1 ordinal logits: ranks up to K-1
    lf = case.make()
    if _ignored(lf, v): assert torch.isfinite(lf(x, _with(t, v))); return # a void label the loss was told to ignore stays accepted
    _fails_named(lf, x, _with(t, v), v) # the first batch this loss sees
    lf = case.make(); lf(x, t); lf.check_values = True
    _fails_named(lf, x, _with(t, v), v) # a later batch

@pytest.mark.parametrize('bad', [2, 255])
def test_unit_targets_out_of_range_named(case, bad):
    "Sigmoid losses take 0/1 or soft targets in [0, 1]: 2 or 255 (a mask saved as 0/255) is a named `ValueError`"
    if case.kind not in UNIT_KINDS: pytest.skip('targets are not 0/1 or probabilities')
    x,t = _data(case)
    lf = case.make()
    if _ignored(lf, bad): assert torch.isfinite(lf(x, _with(t, bad))); return # a void label the loss was told to ignore
    _fails_named(lf, x, _with(t, bad), bad)
    lf = case.make(); lf(x, t); lf.check_values = True
    _fails_named(lf, x, _with(t, bad), bad)

@pytest.mark.parametrize('v', [0.5, 1.])
def test_unit_targets_in_range_accepted(case, v):
    "Soft targets in [0, 1] stay accepted, with or without `check_values`"
    if case.kind not in UNIT_KINDS: pytest.skip('targets are not 0/1 or probabilities')
    x,t = _data(case)
    t = _with(t.float() if case.soft or t.is_floating_point() else t, v if case.soft or t.is_floating_point() else int(v))
    lf = case.make(); lf.check_values = True
    assert torch.isfinite(lf(x, t))

@pytest.mark.parametrize('mode,ign', [('multiclass', 255), ('multiclass', -1), ('binary', 255), ('multilabel', 255)])
def test_segmentation_void_label_accepted(mode, ign):
    "255 (or -1) as `ignore_index` is accepted in every mode, and the ignored pixels change nothing"
    from fastai_losses.all import DiceLossFlat
    c = 1 if mode=='binary' else 3
    x = torch.randn(2, c, 4, 4)
    t = torch.randint(0, 3 if mode=='multiclass' else 2, (2, 4, 4) if mode!='multilabel' else (2, c, 4, 4))
    lf = DiceLossFlat(mode=mode, ignore_index=ign, check_values=True)
    assert torch.isfinite(lf(x, _with(t, ign)))

def test_ignore_index_accepted_for_class_losses():
    from fastai_losses.all import CrossEntropyLossFlat, FocalLossFlat
    x,t = torch.randn(8, 3),torch.randint(0, 3, (8,))
    for lf in (CrossEntropyLossFlat(ignore_index=255), FocalLossFlat(ignore_index=-1), CrossEntropyLossFlat()):
        lf.check_values = True; v = lf.ignore_index
        assert torch.isfinite(lf(x, _with(t, v)))

def test_values_read_once_per_loss_object():
    "By default the range is read on the first batch only (no sync later); a copy or a loaded export reads it again"
    from fastai_losses.all import BCEWithLogitsLossFlat
    x,t = torch.randn(8, 3),(torch.rand(8, 3)>0.5).float()
    lf = BCEWithLogitsLossFlat(); lf(x, t)
    lf(x, t*255) # a later batch: not read, by design (a device sync per batch)
    for lf2 in (pickle.loads(pickle.dumps(lf, protocol=2)), copy.copy(lf), copy.deepcopy(lf)):
        _fails_named(lf2, x, t*255, 255)
    lf2.check_values = False; lf2(x, t); lf2(x, t*255) # the new object's first good batch switches its reads off again

def test_check_values_in_every_constructor(case):
    "`check_values=True` is a keyword of every Flat loss's constructor"
    for l in _terms(case.make()):
        if not isinstance(l, FlatLoss): continue
        lf = type(l)(**_settings(l, 'check_values'), check_values=True)
        assert lf.check_values is True
        x,t = _data(case); x[0] = float('nan')
        fails(lambda: lf(x, t), contains="NaN or inf")

import fastai_losses.regression as _reg, fastai_losses.classification as _cls, fastai_losses.multilabel as _ml, fastai_losses.segmentation as _seg
FASTAI_NAMES = ('BCELossFlat','BCEWithLogitsLossFlat','CrossEntropyLossFlat','FocalLoss','FocalLossFlat','L1LossFlat','LabelSmoothingCrossEntropy',
                'LabelSmoothingCrossEntropyFlat','MSELossFlat') # keep fastai's positional parameters (tests/test_fastai_names.py)
TORCH_SIGNATURE = ('CrossEntropyLoss','NLLLoss') # drop-in subclasses of torch's modules, with torch's signature
_API = [(m.__name__.split('.')[-1], k, getattr(m, k)) for m in (_reg, _cls, _ml, _seg) for k in m.__all__
        if callable(getattr(m, k)) and k not in FASTAI_NAMES+TORCH_SIGNATURE]
@pytest.mark.parametrize('name,obj', [(k, o) for _,k,o in _API], ids=[f"{m}.{k}" for m,k,_ in _API])
def test_options_are_keyword_only(name, obj):
    "Options after the tensors (`inp, targ`) of a loss function, and every option of a loss class, are keyword-only (issue 24)"
    if inspect.isclass(obj) and obj.__init__ is object.__init__: pytest.skip('a mixin without a constructor')
    ps = list(inspect.signature(obj.__init__ if inspect.isclass(obj) else obj).parameters.values())
    if inspect.isclass(obj): ps = [p for p in ps if p.name not in ('self','loss_cls','loss')] # a wrapper's wrapped loss
    elif [p.name for p in ps[:2]]==['inp','targ']: ps = ps[2:]
    else: pytest.skip('not a loss function of (inp, targ)')
    pos = [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    assert not pos, f"{name}: {pos} can be passed by position"

def _weight_args(cls):
    "The per-class tensor arguments (`weight`, `pos_weight`, `alpha`) that `cls` takes, defaulting to `None`"
    ps = inspect.signature(cls).parameters
    return [k for k in ('weight','pos_weight','alpha') if k in ps and ps[k].default is None]

def _settings(l, but):
    "The constructor arguments that rebuild `l`, all but `but`, read back from it"
    ps = inspect.signature(type(l)).parameters.values()
    return {p.name: getattr(l, p.name) for p in ps
            if p.name!=but and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and hasattr(l, p.name)}

def test_class_weights_as_list_tuple_or_array(case):
    "A list, tuple or numpy array is taken wherever a tensor of per-class values is (core's `as_buffer`), with the tensor's value"
    x,t = _data(case)
    for l in _terms(case.make()):
        if not isinstance(l, FlatLoss): continue
        for k in _weight_args(type(l)):
            w = torch.linspace(0.5, 2., x.shape[l.axis])
            kw = _settings(l, k)
            ref = type(l)(**kw, **{k: w})(x, t)
            for v in (w.tolist(), tuple(w.tolist()), w.numpy()): torch.testing.assert_close(type(l)(**kw, **{k: v})(x, t), ref)

def _moved(lf, device): lf.to(device); return lf # fastai's `BaseLoss.to` returns None

def _table_rows():
    "The messages that 00_core's bad-input table quotes, each from a real call"
    from fastai_losses.all import (FocalLossFlat, DiceLossFlat, GaussianNLLLossFlat, BinaryFocalLossFlat, TripletLossFlat,
                                   CrossEntropyLossFlat)
    x,t = torch.randn(8, 10),torch.randint(0, 10, (8,))
    xs,ts = torch.randn(2, 3, 8, 8),torch.randint(0, 3, (2, 8, 8))
    return [
        (lambda: FocalLossFlat()(x, t[:4]), "FocalLossFlat: input (8, 10) holds 8 items but target (4,) holds 4 class indices; expected target (8,)"),
        (lambda: FocalLossFlat()(x, torch.nn.functional.one_hot(t, 10)), "expected target (8,) (a one-hot or soft target? pass class indices, or use a soft-target loss)"),
        (lambda: FocalLossFlat()(x, t.float()), "FocalLossFlat: target dtype torch.float32 holds float class indices; expected an integer tensor (torch.long)"),
        (lambda: FocalLossFlat()(x.long(), t), "input dtype torch.int64; expected a floating point tensor of logits or predictions"),
        (lambda: FocalLossFlat()(x[:,0], t), "FocalLossFlat: input (8,) holds 1 items but target (8,) holds 8 class indices; expected target ()"),
        (lambda: GaussianNLLLossFlat()(torch.randn(4), torch.zeros(4)),
         "GaussianNLLLossFlat: input (4,) holds one value per target; expected 2 outputs per target (mean, variance) along axis -1, e.g. input (4, 2)"),
        (lambda: FocalLossFlat()(x[:0], t[:0]), "input (0, 10) is an empty batch; expected at least one item"),
        (lambda: FocalLossFlat(check_values=True)(x*float('nan'), t), "input holds NaN or inf"),
        (lambda: DiceLossFlat()(xs, ts.clamp_max(1)*255), "DiceLossFlat: target holds 255; expected class indices in [0, 3); a mask saved as 0/255 needs `/255`, and 255 as a void label `ignore_index=255`"),
        (lambda: BinaryFocalLossFlat()(x, torch.full_like(x, 2.)), "BinaryFocalLossFlat: target holds 2; expected targets in [0, 1] (class indices? use a softmax loss, or one-hot encode them)"),
        (lambda: FocalLossFlat(weight=[1., 2., 3.])(x, t), "FocalLossFlat: weight has 3 values but the input has 10 classes; expected 10"),
        (lambda: FocalLossFlat()(x, t.to('meta')), "FocalLossFlat: target is on meta but input is on cpu; expected both on one device (a fastai DataLoader puts them there)"),
        (lambda: DiceLossFlat()(torch.randn(2, 1, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)),
         "DiceLossFlat: input (2, 1, 8, 8) has 1 class along axis 1; a softmax over one class is constant (loss 0, no gradient): use mode='binary' (a sigmoid) for a single logit"),
        (lambda: DiceLossFlat(mode='binary', weight=[1., 2., 3.]), "DiceLoss: weight has 3 values but 'binary' mode has 1 class; expected 1 value, or mode='multiclass'/'multilabel'"),
        (lambda: _moved(CrossEntropyLossFlat(weight=torch.ones(10)), 'meta')(x, t), "weight is on meta but input is on cpu; move the loss with `.to('cpu')` (a fastai Learner does this)"),
        (lambda: FocalLossFlat(reduction='avg')(x, t), "reduction='avg'; expected one of ('mean', 'sum', 'none')"),
        (lambda: DiceLossFlat()(xs, ts[..., :7]), "DiceLossFlat: input (2, 3, 8, 8) with classes on axis 1 needs a mask (2, 8, 8), got target (2, 8, 7)"),
        (lambda: TripletLossFlat()(torch.randn(6, 3, 2), torch.randint(0, 3, (6,))), "TripletLossFlat: input (6, 3, 2); expected embeddings (N, D)"),
    ]

def test_bad_input_table_messages():
    "Every message 00_core's bad-input table quotes is the one a real call gives"
    for f,msg in _table_rows(): fails(f, contains=msg)
