"""The margin losses against pytorch-metric-learning 2.9 in float64 (values, and gradients to the embeddings and the centres, with
pml's `W` copied in), on random data and edge cases; then in a fastai `Learner` on scikit-learn's digits: the centres train,
round trips keep the predictions, `get_preds`/`predict`/`ClassificationInterpretation`/`lr_find`/`fine_tune` work"""
import math, warnings, pytest, torch, torch.nn as nn
from fastcore.test import test_close as close, test_eq as eq, test_fail as fails
from pytorch_metric_learning import losses as pml
from fastai_losses.all import ArcFaceLossFlat, CosFaceLossFlat, SubCenterArcFaceLossFlat, class_cosines

C,D,K = 5,8,3
LOSSES = {'arcface': (lambda **kw: ArcFaceLossFlat(C, D, **kw), lambda **kw: pml.ArcFaceLoss(C, D, **kw)),
          'cosface': (lambda **kw: CosFaceLossFlat(C, D, **kw), lambda **kw: pml.CosFaceLoss(num_classes=C, embedding_size=D, **kw)),
          'subcenter': (lambda **kw: SubCenterArcFaceLossFlat(C, D, **kw), lambda **kw: pml.SubCenterArcFaceLoss(num_classes=C, embedding_size=D, **kw))}

def _pair(name, **kw):
    "Ours and pml's, in float64, with pml's `W` (D, C·K) copied into our centres (C, [K,] D)"
    ours,theirs = LOSSES[name][0](**kw),LOSSES[name][1](**kw)
    W = theirs.W.detach().double()
    theirs.W.data = W.clone()
    with torch.no_grad(): ours.centres = nn.Parameter(W.t().reshape(ours.centres.shape).clone())
    return ours,theirs

def _compare(name, x, t, **kw):
    ours,theirs = _pair(name, **kw)
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    l1,l2 = ours(x1, t),theirs(x2, t)
    close(l1, l2, eps=1e-6)
    l1.backward(); l2.backward()
    close(x1.grad, x2.grad, eps=1e-6)
    close(ours.centres.grad, theirs.W.grad.t().reshape(ours.centres.shape), eps=1e-6)
    return l1

def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, dtype=torch.float64, generator=g),torch.randint(0, C, (n,), generator=g)

@pytest.mark.parametrize('name', LOSSES)
@pytest.mark.parametrize('kw', [{}, dict(margin=10., scale=16.)], ids=['defaults', 'other'])
def test_equals_pml_random(name, kw):
    for seed in range(3): _compare(name, *_data(seed=seed), **kw)

@pytest.mark.parametrize('name', LOSSES)
def test_equals_pml_edge_cases(name):
    x,t = _data()
    _compare(name, x[:1], t[:1]) # one item
    _compare(name, x, torch.full_like(t, 2)) # all one class
    _compare(name, x*1e3, t) # far from the origin

def _at_angle(centre, theta, g):
    "A unit embedding at angle `theta` from `centre`"
    u = centre/centre.norm(); v = torch.randn(u.shape, dtype=u.dtype, generator=g); v = v-(v@u)*u; v = v/v.norm()
    return math.cos(theta)*u + math.sin(theta)*v

@pytest.mark.parametrize('name', ['arcface', 'subcenter'])
def test_equals_pml_at_and_beyond_the_margin_boundary(name):
    "θ+m near π, at π (the boundary, where the target logit jumps) and beyond: pml's branch and pml's value"
    ours,_ = _pair(name)
    m,g = math.radians(28.6),torch.Generator().manual_seed(1)
    cen = ours.centres.detach()
    cen = cen if cen.ndim==2 else cen[:,0] # sub-centre 0: the closest sub-centre then sets θ, whichever it is, in both libraries
    thetas = [math.pi-m-1e-3, math.pi-m, math.pi-m+1e-3, math.pi-0.1, 2.0]
    t = torch.tensor([i%C for i in range(len(thetas))])
    x = torch.stack([_at_angle(cen[c], th, g) for c,th in zip(t.tolist(), thetas)])
    _compare(name, x, t)

@pytest.mark.parametrize('name', ['arcface', 'subcenter'])
def test_finite_gradient_on_the_centre(name):
    "θ=0 exactly: pml's gradient through `acos` is infinite or NaN there; ours is finite (a documented difference)"
    ours,_ = _pair(name)
    cen = ours.centres.detach(); cen = cen if cen.ndim==2 else cen[:,0]
    x = cen[:2].clone().requires_grad_(); ours(x, torch.tensor([0, 1])).backward()
    assert torch.isfinite(x.grad).all()

@pytest.mark.parametrize('name', LOSSES)
def test_reductions(name):
    ours,_ = _pair(name); x,t = _data()
    ours.reduction = 'none'; per = ours(x, t); eq(per.shape, (32,))
    ours.reduction = 'sum'; close(ours(x, t), per.sum())
    ours.reduction = 'mean'; close(ours(x, t), per.mean())

@pytest.mark.parametrize('name', LOSSES)
def test_bad_inputs_named(name):
    lf = LOSSES[name][0](); nm = type(lf).__name__
    x,t = torch.randn(6, D),torch.randint(0, C, (6,))
    fails(lambda: lf(torch.randn(6, D+1), t), contains=f"{nm}: input (6, {D+1}) has {D+1} outputs along axis -1; expected {D}")
    fails(lambda: lf(x, t.float()), contains=f"{nm}: target dtype torch.float32 holds float class indices; expected an integer tensor")
    for bad in (C, -1, 99):
        fails(lambda: LOSSES[name][0]()(x, torch.where(torch.arange(6)==3, bad, t)), contains=f"{nm}: target holds {bad}; expected class indices in [0, {C})")
    fails(lambda: LOSSES[name][0](scale=16.)(x, t[:4]), contains=f"{nm}: input (6, {D}) holds 6 items but target (4,)")
    with pytest.raises(TypeError, match="float class indices"): lf(x, t.float())
    with pytest.raises(ValueError, match="expected 8"): lf(torch.randn(6, 3), t)

# --- fastai ---------------------------------------------------------------------------------------------------------------
from fastai.data.block import DataBlock, CategoryBlock
from fastai.data.transforms import RandomSplitter, ItemGetter
from fastai.data.core import TfmdDL
from fastai.learner import Learner, load_learner
from fastai.interpret import ClassificationInterpretation
import fastai.callback.schedule, fastai.callback.progress # lr_find, fine_tune; no_bar
from fastai.torch_core import TensorBase
from fastai.data.block import TransformBlock

def _digits_dls():
    from sklearn.datasets import load_digits
    d = load_digits()
    items = [(torch.tensor(x, dtype=torch.float32)/16, int(y)) for x,y in zip(d.data[:600], d.target[:600])]
    db = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=ItemGetter(0), get_y=ItemGetter(1), splitter=RandomSplitter(0.25, seed=0))
    return db.dataloaders(items, bs=64, device='cpu')

def _body(): return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))

@pytest.fixture(scope='module')
def dls(): return _digits_dls()

@pytest.mark.parametrize('name', LOSSES)
def test_learner_trains_the_centres_and_round_trips(name, dls, tmp_path):
    torch.manual_seed(0)
    lf = {'arcface': ArcFaceLossFlat, 'cosface': CosFaceLossFlat, 'subcenter': SubCenterArcFaceLossFlat}[name](10, 16, scale=16.)
    learn = Learner(dls, _body(), loss_func=lf, lr=3e-3, path=tmp_path)
    c0 = lf.centres.detach().clone()
    with learn.no_bar(), learn.no_logging(): learn.fit(3)
    assert (lf.centres.detach()-c0).abs().max()>1e-3, "the centres did not move"
    groups = learn.opt.param_groups
    assert len(groups)==2 and len(groups[-1]['params'])==1 and groups[-1]['params'][0] is lf.centres
    with learn.no_bar(): probs,targs,dec = learn.get_preds(with_decoded=True)
    eq(probs.shape, (150, 10)); close(probs.sum(1), torch.ones(150)); eq(dec, probs.argmax(1))
    acc = (dec==targs).float().mean().item()
    assert acc>0.5, f"accuracy {acc}"
    # save/load: a further fit changes predictions, load restores them
    learn.save('m')
    with learn.no_bar(): p1 = learn.get_preds()[0]
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    with learn.no_bar(): assert not torch.allclose(learn.get_preds()[0], p1)
    learn.load('m')
    with learn.no_bar(): close(learn.get_preds()[0], p1)
    learn.export('x.pkl')
    l2 = load_learner(tmp_path/'x.pkl')
    with l2.no_bar(): close(l2.get_preds(dl=learn.dls.valid)[0], p1)
    close(l2.loss_func.centres, lf.centres)
    # predict and ClassificationInterpretation on the closed set
    cat,idx,pr = learn.predict(dls.valid.items[0])
    eq(int(idx), int(pr.argmax())); assert str(cat) in map(str, dls.vocab)
    with learn.no_bar(): interp = ClassificationInterpretation.from_learner(learn)
    cm = interp.confusion_matrix(); eq(cm.shape, (10, 10)); eq(int(cm.sum()), 150)
    # lr_find restores the centres; fine_tune runs and keeps the loss's group trainable under freeze
    c1 = lf.centres.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=20, show_plot=False)
    close(lf.centres, c1)
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, 3e-3)
    assert not torch.allclose(lf.centres.detach(), c1)

@pytest.mark.parametrize('name', LOSSES)
def test_centres_on_another_device_named(name):
    "Centres left on another device than the embeddings (`meta` stands in for a GPU) are named, with the fix"
    lf = LOSSES[name][0](); lf.to('meta')
    fails(lambda: lf(torch.randn(6, D), torch.randint(0, C, (6,))),
          contains=f"{type(lf).__name__}: centres are on meta but input is on cpu; move the loss with `.to('cpu')`")
