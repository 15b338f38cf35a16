"`MultiTargetLoss` over the registry's multi-output cases: the heads' references, gradients, refusals, and every fastai call that reaches a loss"
import pickle, warnings, pytest, torch, torch.nn as nn, torch.nn.functional as F
from fastcore.test import test_close as close, test_eq as eq
from fastai.data.core import Datasets
from fastai.data.transforms import ItemGetter
from fastai.learner import Learner, load_learner
from fastai.interpret import Interpretation
from fastai.metrics import error_rate
import fastai.callback.progress # Learner.no_bar
from fastai_losses.all import *
from registry import MULTI_CASES, MULTI_IDS, gen
from test_fastai import _targets, SHAPE

pytestmark = pytest.mark.multitarget # every test here, also those not parametrized over `MULTI_CASES`

@pytest.fixture(params=MULTI_CASES, ids=MULTI_IDS)
def mcase(request): return request.param

@pytest.mark.parametrize('reduction', ['mean','sum','none'])
def test_reference_value_and_grad(mcase, reduction):
    "The value is Σ w_i·(head i's independent reference), and so is the gradient of every output"
    xs,ts = mcase.data(12, torch.float64, gen(0))
    x1,x2 = [x.clone().requires_grad_() for x in xs],[x.clone().requires_grad_() for x in xs]
    lf = mcase.make(); lf.reduction = reduction
    ours,ref = lf(tuple(x1), *ts),mcase.expected(x2, ts, reduction)
    eq(ours.shape, ref.shape); close(ours, ref, eps=1e-5)
    if reduction=='none': eq(ours.shape, (12,))
    g = torch.randn(ours.shape, dtype=torch.float64, generator=gen(1))
    (ours*g).sum().backward(); (ref*g).sum().backward()
    for a,b in zip(x1, x2): close(a.grad, b.grad, eps=1e-5)

def test_gradcheck(mcase):
    xs,ts = mcase.data(4, torch.float64, gen(2))
    lf = mcase.make()
    assert torch.autograd.gradcheck(lambda *xs: lf(xs, *ts), tuple(x.requires_grad_() for x in xs))

def test_components_and_metrics(mcase):
    "`components` holds each head's value; `metrics` give the parts, which add up to the loss with the weights, at any reduction"
    xs,ts = mcase.data(16, torch.float32, gen(3))
    lf = mcase.make(); v = lf(xs, *ts)
    heads = [c.make()(x, t) for c,x,t in zip(mcase.cases, xs, ts)]
    close([lf.components[n] for n in lf.names], heads)
    parts = [m.func(xs, *ts) for m in lf.metrics]
    close(parts, heads); close(sum(w*p for w,p in zip(lf.weights, parts)), v)
    lf.reduction = 'none'; close([m.func(xs, *ts) for m in lf.metrics], parts); eq(lf.reduction, 'none')

def test_counts_and_types_refused(mcase):
    xs,ts = mcase.data(8, torch.float32, gen(4)); n = len(xs)
    lf = mcase.make()
    with pytest.raises(ValueError, match=f"{n} outputs, {n-1} targets and {n} losses"): lf(xs, *ts[:-1])
    with pytest.raises(ValueError, match=f"{n-1} outputs, {n} targets and {n} losses"): lf(xs[:-1], *ts)
    with pytest.raises(TypeError, match=f"the model gave one output .* expected a tuple of {n} outputs"): lf(xs[0], *ts)
    with pytest.raises(TypeError, match="use `MultiTargetLoss"): (0.5*CrossEntropyLossFlat() + 0.5*FocalLossFlat())(xs[0], ts[0], ts[0])

def test_thresh_reaches_every_head_and_term():
    lf = MultiTargetLoss(CrossEntropyLossFlat(), 0.5*BCEWithLogitsLossFlat() + 0.5*BinaryFocalLossFlat(), AsymmetricLossFlat())
    lf.thresh = 0.3
    eq([l.thresh for l in lf.losses[1].losses] + [lf.losses[2].thresh], [0.3]*3)
    x = torch.randn(4, 3)
    eq(lf.decodes((torch.randn(4, 5), x.sigmoid(), x.sigmoid()))[1], x.sigmoid()>0.3)
    cl = 0.5*BCEWithLogitsLossFlat() + 0.5*DiceLossFlat(mode='multilabel')
    cl.thresh = 0.7; eq([l.thresh for l in cl.losses], [0.7, 0.7]); eq(cl.thresh, 0.7)
    with pytest.raises(AttributeError, match="no term has a `thresh`"): (CrossEntropyLossFlat() + FocalLossFlat()).thresh = 0.3

# A Learner per case: an input (N,2,5,5); a 1x1 convolution for a mask head, a linear layer on the flattened input otherwise
class Heads(nn.Module):
    def __init__(self, cases):
        super().__init__()
        self.heads = nn.ModuleList([nn.Conv2d(2, c.n_out, 1) if c.spatial else nn.Sequential(nn.Flatten(), nn.Linear(2*5*5, c.n_out)) for c in cases])
    def forward(self, x): return tuple(h(x) for h in self.heads)

def _dls(mcase, n=96, bs=16):
    x = torch.randn(n, 2, *SHAPE[2], generator=gen(0))
    ys = [_targets(c, x if c.spatial else x.flatten(1)[:, :6]) for c in mcase.cases]
    tfms = [[ItemGetter(i)] for i in range(len(ys)+1)]
    return Datasets(list(zip(x, *ys)), tfms=tfms, splits=[list(range(64)), list(range(64, n))], n_inp=1).dataloaders(bs=bs, device='cpu')

@pytest.fixture(params=MULTI_CASES, ids=MULTI_IDS, scope='module')
def mlearn(request, tmp_path_factory):
    mcase = request.param
    torch.manual_seed(0)
    lf = mcase.make()
    l = Learner(_dls(mcase), Heads(mcase.cases), loss_func=lf, metrics=lf.metrics+[on_output(error_rate, 0, name='err0')], path=tmp_path_factory.mktemp(mcase.id))
    with l.no_bar(), l.no_logging(): l.fit(2, 1e-2)
    l.mcase = mcase
    return l

def test_fit_and_parts_in_recorder(mlearn):
    lf = mlearn.loss_func
    eq(mlearn.recorder.metric_names[1:-1], ['train_loss', 'valid_loss'] + [f'loss_{n}' for n in lf.names] + ['err0'])
    vals = mlearn.recorder.values
    assert all(torch.isfinite(torch.tensor(v)).all() for v in vals)
    assert vals[-1][1] < vals[0][0]*1.5
    v = vals[-1]; k = len(lf.names)
    close(v[1], sum(w*p for w,p in zip(lf.weights, v[2:2+k])), eps=1e-4) # valid_loss = Σ w_i·part_i

def test_get_preds_one_result_per_head(mlearn):
    lf,k = mlearn.loss_func,len(mlearn.mcase.cases)
    with mlearn.no_bar(): preds,targs,dec,losses = mlearn.get_preds(with_decoded=True, with_loss=True)
    eq((len(preds), len(targs), len(dec)), (k, k, k)); eq(losses.shape, (32,))
    for c,p,d in zip(mlearn.mcase.cases, preds, dec):
        eq(p.shape[0], 32); eq(d.shape[0], 32)
        if c.kind=='cls': close(p.sum(1), torch.ones(32)); eq(d, p.argmax(1))
        if c.kind=='ml': eq(d.dtype, torch.bool)
    eq(lf.reduction, 'mean') # restored after loss_not_reduced
    xb,*yb = mlearn.dls.valid.one_batch()
    with torch.no_grad(): out = mlearn.model(xb)
    lf.reduction = 'none'; per = lf(out, *yb); lf.reduction = 'mean'
    close(losses[:16], per, eps=1e-5) # the per-item total loss, in the validation set's order
    with mlearn.no_bar(): close(mlearn.validate()[1:], mlearn.recorder.values[-1][1:], eps=1e-5) # the parts as metrics don't depend on the reduction

def test_interpretation_top_losses(mlearn):
    with mlearn.no_bar():
        interp = Interpretation.from_learner(mlearn)
        losses,idx = interp.top_losses(5)
    eq(len(idx), 5); assert (losses[:-1]>=losses[1:]).all()

def test_loss_not_reduced(mlearn):
    xb,*yb = mlearn.dls.valid.one_batch()
    with mlearn.loss_not_reduced(): l = mlearn.loss_func(mlearn.model(xb), *yb)
    eq(l.shape, (xb.shape[0],)); eq(mlearn.loss_func.reduction, 'mean')

def test_export_round_trip(mlearn):
    xb = mlearn.dls.valid.one_batch()[0]
    with mlearn.no_bar(): p0 = mlearn.get_preds(dl=[(xb,)])[0]
    mlearn.export('export.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning) # fastai's reminder that `load_learner` unpickles
        l2 = load_learner(mlearn.path/'export.pkl')
    eq(type(l2.loss_func), MultiTargetLoss); eq(l2.loss_func.names, mlearn.loss_func.names)
    with l2.no_bar(): p1 = l2.get_preds(dl=[(xb,)])[0]
    for a,b in zip(p0, p1): close(a, b)
    l2.loss_func.reduction = 'none'
    eq([l.reduction for l in l2.loss_func.losses], ['none']*len(p0))

def test_logger_logs_each_head(mlearn):
    mlearn.add_cb(LossMetricLogger())
    try:
        with mlearn.no_bar(), mlearn.no_logging(): mlearn.fit(1, 1e-4)
        df = mlearn.loss_metric_logger.df
    finally: mlearn.remove_cb(mlearn.loss_metric_logger)
    lf = mlearn.loss_func
    for n in lf.names: assert f'loss_{n}' in df.columns
    assert 'err0' in df.columns and df.err0.notna().all()
    tr = df[df.phase=='train']
    close(tr.loss.values, sum(w*tr[f'loss_{n}'].values for w,n in zip(lf.weights, lf.names)), eps=1e-4)

def test_pickles(mcase):
    lf = mcase.make(); xs,ts = mcase.data(8, torch.float32, gen(0))
    lf2 = pickle.loads(pickle.dumps(lf))
    close(lf2(xs, *ts), lf(xs, *ts)); eq(repr(lf2), repr(lf))
