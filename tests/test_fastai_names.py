"""fastai's names keep fastai's meaning after `from fastai_losses.all import *`: the cases of fastai's own loss notebook
(`nbs/01a_losses.ipynb` in fastai's repository), rewritten as tests and run against whatever the two star imports leave bound"""
import inspect, pickle, pytest, torch, torch.nn as nn, torch.nn.functional as F
from fastai.vision.all import *
from fastai_losses.all import *
import fastai.vision.all as fastai_all, fastai_losses.all as ours_all
from fastcore.test import test_close as close, test_eq as eq, test_ne as ne

CLASHES = sorted(k for k in dir(ours_all) if not k.startswith('_') and k in dir(fastai_all) and getattr(ours_all, k) is not getattr(fastai_all, k))

def test_the_clashing_names():
    "The names both define: a new one must be added here, and to the checks below, on purpose"
    eq(CLASHES, ['BCELossFlat', 'BCEWithLogitsLossFlat', 'CrossEntropyLossFlat', 'FocalLoss', 'FocalLossFlat', 'L1LossFlat',
                 'LabelSmoothingCrossEntropy', 'LabelSmoothingCrossEntropyFlat', 'MSELossFlat', 'reduce_loss'])
    assert DiceLoss is fastai_all.DiceLoss # ours has another meaning, so `all` does not export it

def _params(f):
    sig = inspect.signature(f) # a class's signature, as `@delegates` and `use_kwargs_dict` write it
    ps = [p for p in sig.parameters.values() if p.name!='self']
    pos = [(p.name, p.default) for p in ps if p.kind==p.POSITIONAL_OR_KEYWORD]
    kw = {p.name: p.default for p in ps if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return pos, kw, any(p.kind==p.VAR_POSITIONAL for p in ps)

@pytest.mark.parametrize('name', CLASHES)
def test_same_positional_order_and_defaults(name):
    "fastai's positional parameters are a prefix of ours with the same defaults; its keyword options exist with the same defaults"
    theirs,ours = getattr(fastai_all, name),getattr(ours_all, name)
    (tp,tk,tv),(op,ok,ov) = _params(theirs),_params(ours)
    eq(op[:len(tp)], tp)
    for k,d in tk.items():
        if k in BASE and k not in ok: continue # `BaseLoss`'s own options, which ours takes through `**kwargs`
        eq((k, ok.get(k, 'missing')), (k, d))
    eq(ov, tv) # both pass `*args` on to the wrapped module, or neither does
    if inspect.isclass(ours) and issubclass(ours, FlatLoss): ours(flatten=True) # `BaseLoss`'s options are accepted

BASE = ('flatten','floatify','is_2d')

def test_positional_calls_keep_their_meaning():
    w = torch.tensor([1., 2., 3.])
    f = FocalLoss(2., w, 'sum'); eq(f.weight, w); eq(f.reduction, 'sum'); assert f.alpha is None
    ls = LabelSmoothingCrossEntropy(0.1, w, 'none'); eq(ls.eps, 0.1); eq(ls.weight, w); eq(ls.reduction, 'none')
    eq(BCEWithLogitsLossFlat(w).weight, w)
    x = torch.randn(8, 3)
    for m in (LabelSmoothingCrossEntropy(), LabelSmoothingCrossEntropyFlat(), FocalLossFlat(), CrossEntropyLossFlat()):
        close(m.activation(x), F.softmax(x, -1)); eq(m.decodes(x), x.argmax(-1))
    t = torch.randint(0, 3, (8,))
    close(reduce_loss(F.cross_entropy(x, t, reduction='none')), F.cross_entropy(x, t))
    close(reduce_loss(F.cross_entropy(x, t, reduction='none'), 'sum'), F.cross_entropy(x, t, reduction='sum'))

# fastai's notebook, case by case (sizes cut down where they only cost time)
def test_bce_flat_on_probabilities():
    "fastai's `BCELossFlat`: `nn.BCELoss` flattened, integer targets floated, `activation` and `decodes` no-ops"
    tst = BCELossFlat()
    output,target = torch.sigmoid(torch.randn(32, 5, 10)),torch.randint(0, 2, (32, 5, 10))
    close(tst(output, target), nn.BCELoss()(output, target.float()))
    with pytest.raises(Exception): nn.BCELoss()(output, target) # torch's own refuses integer targets
    eq(tst.activation(output), output); eq(tst.decodes(output), output)
    eq(BCELossFlat(reduction='none')(output, target).shape, (32*5*10,))
    w = torch.rand(10); close(BCELossFlat(w)(output, target), nn.BCELoss(w)(output, target.float())) # `weight` by position

def test_ce_flat_on_3d():
    tst = CrossEntropyLossFlat(reduction='none')
    output,target = torch.randn(32, 5, 10),torch.randint(0, 10, (32,5))
    eq(tst(output, target).shape, (160,))
    with pytest.raises(Exception): nn.CrossEntropyLoss()(output, target) # torch's own refuses these shapes
    eq(tst.activation(output), F.softmax(output, dim=-1))
    eq(tst.decodes(output), output.argmax(dim=-1))

def test_ce_flat_segmentation():
    tst = CrossEntropyLossFlat(axis=1)
    output,target = torch.randn(4, 5, 16, 16),torch.randint(0, 5, (4, 16, 16))
    close(tst(output, target), F.cross_entropy(output, target))
    eq(tst.activation(output), F.softmax(output, dim=1))
    eq(tst.decodes(output), output.argmax(dim=1))

def test_ce_flat_weight_on_device():
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    tst = CrossEntropyLossFlat(weight=torch.ones(10)); tst.to(dev)
    output,target = torch.randn(32, 10, device=dev),torch.randint(0, 10, (32,), device=dev)
    close(tst(output, target), F.cross_entropy(output, target))

def test_focal_gamma0_is_ce():
    output,target = torch.randn(32, 5, 10),torch.randint(0, 10, (32,5))
    close(FocalLossFlat(gamma=0)(output, target), CrossEntropyLossFlat()(output, target))
    ne(FocalLossFlat(gamma=2)(output, target), CrossEntropyLossFlat()(output, target))
    close(FocalLossFlat(gamma=2)(output, target), fastai_all.FocalLossFlat(gamma=2)(output, target)) # without a weight, the same value

def test_focal_segmentation():
    fl,ce = FocalLossFlat(gamma=0, axis=1),CrossEntropyLossFlat(axis=1)
    output,target = torch.randn(4, 5, 16, 16),torch.randint(0, 5, (4, 16, 16))
    close(fl(output, target), ce(output, target), eps=1e-4)
    eq(fl.activation(output), F.softmax(output, dim=1))
    eq(fl.decodes(output), output.argmax(dim=1))

def test_bce_flat():
    tst = BCEWithLogitsLossFlat()
    # fastai's notebook draws these targets with `randn`; ours refuses targets outside [0, 1] by name (issue 25), so `rand`
    output,target = torch.randn(32, 5, 10),torch.rand(32, 5, 10)
    close(tst(output, target), F.binary_cross_entropy_with_logits(output, target))
    output,target = torch.randn(32, 5),torch.randint(0, 2, (32, 5)) # integer targets of the input's shape: one per logit
    close(tst(output, target), F.binary_cross_entropy_with_logits(output, target.float()))
    tst = BCEWithLogitsLossFlat(pos_weight=torch.ones(10))
    output,target = torch.randn(32, 5, 10),torch.rand(32, 5, 10)
    close(tst(output, target), fastai_all.BCEWithLogitsLossFlat(pos_weight=torch.ones(10))(output, target))
    eq(tst.activation(output), torch.sigmoid(output))

def test_bce_and_mse_flat():
    output,target = torch.sigmoid(torch.randn(32, 5, 10)),torch.randint(0, 2, (32, 5, 10))
    close(BCELossFlat()(output, target), F.binary_cross_entropy(output, target.float())) # fastai's own, untouched
    close(MSELossFlat()(output, target), F.mse_loss(output, target.float()))
    close(L1LossFlat()(output, target), F.l1_loss(output, target.float()))

def test_label_smoothing():
    lmce = LabelSmoothingCrossEntropy()
    output,target = torch.randn(32, 5, 10),torch.randint(0, 10, (32,5))
    close(lmce(output.flatten(0,1), target.flatten()), lmce(output.transpose(-1,-2), target))
    close(lmce(output.transpose(-1,-2), target), LabelSmoothingCrossEntropyFlat()(output, target))
    close(lmce(output.flatten(0,1), target.flatten()), fastai_all.LabelSmoothingCrossEntropy()(output.flatten(0,1), target.flatten()))

def test_dice_is_fastais():
    "`DiceLoss` stays fastai's, so its notebook cases give fastai's values"
    dl = DiceLoss()
    eq(dl._one_hot(tensor([[[1, 0, 2], [2, 2, 1]]]), 3),
       tensor([[[[0, 1, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 1]], [[0, 0, 1], [1, 1, 0]]]]))
    out = tensor([[[[2., 1.], [1., 5.]], [[1, 2.], [3., 1.]], [[3., 0], [4., 3.]]]])
    eq(dl.decodes(out), tensor([[[2, 1], [2, 0]]]))
    dl = DiceLoss(reduction='mean')
    close(dl(tensor([[[.1], [.1], [100.]]]), tensor([[2]])), 0)
    close(dl(tensor([[[.1, 100.], [.1, .1], [100., .1]]]), tensor([[2, 1]])), .66, eps=0.01) # 50% intersection
    target = torch.zeros(100, 100); target[:,5] = 1; target[:,50] = 2; target = target[None]
    bg = torch.zeros(1, 3, 100, 100); bg[:,0] = 100
    close(dl(bg, target), 0.67, eps=0.01)
    good = bg.clone(); good[:,0,:,5] = good[:,0,:,50] = 0; good[:,1,:,5] = good[:,2,:,50] = 100
    close(dl(good, target), 0)

def test_user_combined_loss_from_fastais_notebook():
    "The notebook's own `CombinedLoss` pattern, `FocalLossFlat(axis=axis)` plus `DiceLoss(axis, smooth)`, keeps working"
    class FocalDice:
        def __init__(self, axis=1, smooth=1., alpha=1.):
            self.alpha,self.focal_loss,self.dice_loss = alpha,FocalLossFlat(axis=axis),DiceLoss(axis, smooth)
        def __call__(self, pred, targ): return self.focal_loss(pred, targ) + self.alpha*self.dice_loss(pred, targ)
    output,target = torch.randn(32, 4, 5, 10),torch.randint(0, 2, (32, 5, 10))
    ref = fastai_all.FocalLossFlat(axis=1)(output, target) + fastai_all.DiceLoss(1, 1.)(output, target)
    close(FocalDice()(output, target), ref, eps=1e-4)

@pytest.mark.parametrize('make', [BCEWithLogitsLossFlat, CrossEntropyLossFlat, FocalLoss, FocalLossFlat, L1LossFlat, MSELossFlat,
                                  LabelSmoothingCrossEntropy, LabelSmoothingCrossEntropyFlat, DiceLossFlat], ids=lambda m: m.__name__)
def test_picklable(make):
    "fastai's table lists FocalLossFlat and LabelSmoothingCrossEntropyFlat as unpicklable (fastai#3901); ours all pickle, with protocol 2 as `export` does"
    lf = make()
    eq(repr(pickle.loads(pickle.dumps(lf, protocol=2))), repr(lf))
