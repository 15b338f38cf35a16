"Every loss in a fastai `Learner`: fit, `get_preds(with_decoded=True, with_loss=True)`, `Interpretation`, `loss_not_reduced`, export round trip"
import pickle, pytest, torch, torch.nn as nn
from fastcore.test import test_close as close, test_eq as eq
from fastai.data.core import DataLoaders, Datasets
from fastai.data.transforms import ItemGetter
from fastai.learner import Learner, load_learner
from fastai.interpret import Interpretation
import fastai.callback.progress # Learner.no_bar
from registry import CASES, IDS, gen, N_CLS

N_IN = 6
SEG = ('seg','segb','segml')
SHAPE = {2: (5, 5), 3: (2, 3, 3)} # image and volume sizes by spatial rank

def make_model(case):
    "A 1x1 convolution over (N,2,*spatial) inputs, or a linear layer over (N,6) ones, with the case's tail"
    model = {0: lambda: nn.Linear(N_IN, case.n_out), 2: lambda: nn.Conv2d(2, case.n_out, 1), 3: lambda: nn.Conv3d(2, case.n_out, 1)}[case.spatial]()
    return nn.Sequential(model, case.tail()) if case.tail else model

def _targets(case, x):
    "Learnable targets from a fixed map of the inputs"
    if case.spatial:
        z = (x.movedim(1, -1)@torch.linspace(-1, 1, 2*3).view(2, 3)).movedim(-1, 1) # (N,3,*spatial)
        if case.kind in ('seg','cls'): return z.argmax(1)
        if case.kind=='segb': return (z[:,0]>0).long()
        if case.kind=='soft': return torch.softmax(z, 1)
        return (z>0).float() # 'segml', 'ml'
    z = x@torch.linspace(-1, 1, N_IN*N_CLS).view(N_IN, N_CLS)
    if case.kind in ('cls','emb','ord'): return z.argmax(1) # 'ord': ranks 0 to N_CLS-1 from N_CLS-1 logits
    if case.kind=='ml':  return (z>0).float()
    if case.kind=='soft': return torch.softmax(z, 1)
    if case.kind=='logit': return z
    if case.kind in ('pair','rank'): return torch.where(z[:,0]>0, 1, -1)
    if case.kind=='count': return z[:,0].exp().round() # counts
    return z[:,0]

def _dls(case, n=96, bs=16):
    x = torch.randn(*((n, 2, *SHAPE[case.spatial]) if case.spatial else (n, N_IN)), generator=gen(0))
    y = _targets(case, x)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=[list(range(64)), list(range(64, n))])
    return dss.dataloaders(bs=bs, device='cpu')

@pytest.fixture(params=CASES, ids=IDS, scope='module') # fitted once per case; the tests below leave it as they found it
def learn(request, tmp_path_factory):
    case = request.param
    torch.manual_seed(0)
    l = Learner(_dls(case), make_model(case), loss_func=case.make(), path=tmp_path_factory.mktemp(case.id))
    with l.no_bar(), l.no_logging(): l.fit(2, 1e-2)
    l.case = case
    return l

def test_fit_lowers_loss(learn):
    losses = [v for v in learn.recorder.values]
    assert all(torch.isfinite(torch.tensor(v[:2])).all() for v in losses)
    assert losses[-1][1] < losses[0][0]*1.5 # valid loss after fit is not worse than the first train loss

def test_get_preds_decoded_and_loss(learn):
    with learn.no_bar():
        preds,targs,dec,losses = learn.get_preds(with_decoded=True, with_loss=True)
    eq(len(losses), 32)
    eq(dec.shape[0], 32)
    if learn.case.kind=='cls':
        close(preds.sum(1), torch.ones_like(preds.sum(1))); eq(dec, preds.argmax(1))
    # fastai's `BCELossFlat` decodes nothing (probabilities in, probabilities out); ours keeps fastai's meaning
    if learn.case.kind=='ml' and type(learn.loss_func).__name__!='BCELossFlat': eq(dec.dtype, torch.bool)
    eq(learn.loss_func.reduction, 'mean') # restored after loss_not_reduced

def test_interpretation_top_losses(learn):
    with learn.no_bar():
        interp = Interpretation.from_learner(learn)
        losses,idx = interp.top_losses(5)
    eq(len(idx), 5)
    assert (losses[:-1]>=losses[1:]).all()

def test_loss_not_reduced(learn):
    xb,yb = learn.dls.valid.one_batch()
    with learn.loss_not_reduced(): l = learn.loss_func(learn.model(xb), yb)
    assert l.numel()%xb.shape[0]==0 and l.numel()>=xb.shape[0]
    eq(learn.loss_func.reduction, 'mean')

def test_export_round_trip(learn):
    xb,_ = learn.dls.valid.one_batch()
    with learn.no_bar(): p0 = learn.get_preds(dl=[(xb,)])[0]
    learn.export('export.pkl')
    l2 = load_learner(learn.path/'export.pkl')
    eq(type(l2.loss_func), type(learn.loss_func))
    with l2.no_bar(): p1 = l2.get_preds(dl=[(xb,)])[0]
    close(p0, p1)
    l2.loss_func.reduction = 'none'
    for l in getattr(l2.loss_func, 'losses', [l2.loss_func]): eq(getattr(l, 'func', l).reduction, 'none') # a module loss (`PerceptualLoss`) has no `func`

def test_pickles(case):
    lf = case.make()
    lf2 = pickle.loads(pickle.dumps(lf))
    x,t = case.data(8, torch.float32, gen(0))
    close(lf(x, t), lf2(x, t))
    eq(repr(lf), repr(lf2))
