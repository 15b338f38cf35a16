"""The class axis anywhere, inputs of rank 2 to 5, targets (N,*spatial) or with a 1 at the class axis: every loss with a class
axis gives the value it gives with the class axis at 1 (which the registry checks against references), and CE gives torch's"""
import pytest, torch, torch.nn.functional as F
from fastcore.test import test_close as close, test_fail as fails
from fastai_losses.all import *
from registry import CASES, by_family, loss_classes, family_param

def _w(n): return torch.linspace(0.5, 2, n)
def focal_weighted(n, **kw): return FocalLossFlat(gamma=0.5, weight=_w(n), **kw)
def bce_pos_weight(n, **kw): return BCEWithLogitsLossFlat(pos_weight=_w(n), **kw)
def plain(cls): # `cls` made by the number of classes, like the weighted variants
    def f(n, **kw): return cls(**kw)
    f.__name__ = cls.__name__; return f
def params(losses, wrap=lambda m: m): return [family_param(wrap(m), family=f) for m,f in losses.items()] # each with its family's marker
# the losses, from the registry: class indices under a softmax (NLL takes log-probabilities), the sigmoid ones, the segmentation ones
COUNTED = ('LogitAdjustedLossFlat', 'BalancedSoftmaxLossFlat') # made with one count per class
def logit_adjusted(n, **kw): return LogitAdjustedLossFlat(class_counts=torch.arange(1., n+1)*10, tau=1.5, **kw)
INDEX = params(loss_classes(c for c in CASES if c.kind=='cls' and not c.tail and c.family!='combination' and c.id not in COUNTED), plain)
INDEX += params({focal_weighted: 'classification', logit_adjusted: 'classification'})
# one logit per target (fastai's `BCELossFlat` takes probabilities and no class indices; soft margin takes ±1 targets)
SIGMOID = params(loss_classes(c for c in by_family('multilabel') if c.kind=='ml' and not c.tail), plain) + params({bce_pos_weight: 'multilabel'})
SEG = params(loss_classes(by_family('segmentation')))
SHAPES = [(4,3), (2,3,5), (2,3,4,5), (2,3,2,3,4)]
AXES = [(s, ax) for s in SHAPES for ax in range(1, len(s))] # (input shape, class axis)
ids = lambda o: getattr(o, '__name__', 'variant')

def _data(shape, ax, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    t = torch.randint(0, shape[ax], shape[:ax]+shape[ax+1:], generator=g)
    return x,t

@pytest.mark.classification
@pytest.mark.parametrize('shape,ax', AXES)
def test_ce_equals_torch(shape, ax):
    x,t = _data(shape, ax)
    ref = F.cross_entropy(x.movedim(ax, 1), t)
    close(CrossEntropyLossFlat(axis=ax)(x, t), ref)
    close(CrossEntropyLossFlat(axis=ax)(x, t.unsqueeze(ax)), ref) # (N,...,1,...) masks
    close(CrossEntropyLossFlat(axis=ax, reduction='none')(x, t), F.cross_entropy(x.movedim(ax, 1), t, reduction='none').flatten())

@pytest.mark.parametrize('make', INDEX, ids=ids)
@pytest.mark.parametrize('shape,ax', AXES)
@pytest.mark.parametrize('reduction', ['mean','none'])
def test_index_losses_any_axis(make, shape, ax, reduction):
    x,t = _data(shape, ax)
    n = shape[ax]
    ref = make(n, axis=1, reduction=reduction)(x.movedim(ax, 1), t)
    close(make(n, axis=ax, reduction=reduction)(x, t), ref)
    close(make(n, axis=ax, reduction=reduction)(x, t.unsqueeze(ax)), ref)

@pytest.mark.parametrize('make', SIGMOID, ids=ids)
@pytest.mark.parametrize('shape,ax', AXES)
def test_sigmoid_losses_any_axis(make, shape, ax):
    "One target per logit (and class indices, one-hot encoded along `axis`)"
    x,t = _data(shape, ax)
    y = (torch.rand(shape, generator=torch.Generator().manual_seed(1))>0.5).double()
    n = shape[ax]
    close(make(n, axis=ax)(x, y), make(n, axis=1)(x.movedim(ax, 1), y.movedim(ax, 1)))
    close(make(n, axis=ax)(x, t), make(n, axis=ax)(x, F.one_hot(t, n).movedim(-1, ax).double()))

@pytest.mark.parametrize('make', SEG, ids=ids)
@pytest.mark.parametrize('shape,ax', [a for a in AXES if len(a[0])>2])
def test_segmentation_any_axis(make, shape, ax):
    x,t = _data(shape, ax)
    if make is ClDiceLossFlat and len(shape)-2 not in (2,3): # soft skeletons pool over 2-D or 3-D masks only
        return fails(lambda: make(axis=ax)(x, t), contains="expected (N,C,H,W) or (N,C,D,H,W)")
    if getattr(make(), 'mode', 'multiclass')!='multiclass': # a sigmoid-only loss (Lovász hinge): one 0/1 mask per channel
        y = (torch.rand(shape, generator=torch.Generator().manual_seed(1))>0.5).long()
        close(make(axis=ax, mode='multilabel')(x, y), make(mode='multilabel')(x.movedim(ax, 1), y.movedim(ax, 1))); return
    close(make(axis=ax)(x, t), make()(x.movedim(ax, 1), t))
    close(make(axis=ax)(x, t.unsqueeze(ax)), make()(x.movedim(ax, 1), t))
