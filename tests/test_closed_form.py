"""The closed-form backward (`ClosedForm`) gives the values and gradients of autograd's graph to 1e-10 in float64,
passes gradcheck, compiles with `fullgraph=True`, and runs under autocast: every classification and multilabel case,
with the size threshold at 0; and so do the multiclass overlap losses' `_SoftmaxSums` (segmentation)"""
import pytest, torch
import fastai_losses.core as core
from registry import by_family, gen

CASES = by_family('classification', 'multilabel')

@pytest.fixture
def closed(monkeypatch):
    "Take the closed form at every size"
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', 0); monkeypatch.setattr(core, 'CLOSED_FORM_MIN_CLASSES', 0)

def _value_grad(lf, x, t):
    x = x.detach().clone().requires_grad_()
    l = lf(x, t); g, = torch.autograd.grad(l.sum(), x)
    return l.detach(),g

def _through(l, name:str)->bool:
    "Whether the graph of `l` holds a node whose type's name contains `name`"
    seen,todo = set(),[l.grad_fn]
    while todo:
        f = todo.pop()
        if f is None or f in seen: continue
        seen.add(f)
        if name in type(f).__name__: return True
        todo += [n for n,_ in f.next_functions]
    return False

def _closed_used(lf, x, t):
    "Whether the loss went through `ClosedForm` (its output's grad_fn, or that of the op reducing it)"
    return _through(lf(x.detach().clone().requires_grad_(), t), 'ClosedForm')

@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize('reduction', ['mean','sum','none'])
def test_same_as_graph(case, reduction, monkeypatch):
    x,t = case.data(8, torch.float64, gen(0))
    lf = case.make(); lf.reduction = reduction
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', float('inf'))
    l0,g0 = _value_grad(lf, x, t)
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', 0); monkeypatch.setattr(core, 'CLOSED_FORM_MIN_CLASSES', 0)
    l1,g1 = _value_grad(lf, x, t)
    torch.testing.assert_close(l1, l0, rtol=0, atol=1e-10)
    torch.testing.assert_close(g1, g0, rtol=0, atol=1e-10)

FUSED = [c for c in CASES if c.id.split('-')[0] in ('FocalLossFlat','LabelSmoothingCrossEntropyFlat','PolyLossFlat',
                                                     'BinaryFocalLossFlat','AsymmetricLossFlat')]
@pytest.mark.parametrize('case', FUSED, ids=[c.id for c in FUSED])
def test_closed_form_taken(case, closed):
    "The options the closed form handles take it; the others (class weight, focal label smoothing, gamma<1) fall back"
    x,t = case.data(8, torch.float64, gen(0))
    fallback = any(k in case.id for k in ('weight', 'gamma0.5', 'gamma_pos0.5'))
    assert _closed_used(case.make(), x, t)!=fallback

@pytest.mark.parametrize('case', FUSED, ids=[c.id for c in FUSED])
def test_gradcheck(case, closed):
    x,t = case.data(4, torch.float64, gen(1))
    lf = case.make(); lf.reduction = 'none'
    assert torch.autograd.gradcheck(lambda a: lf(a, t), (x.detach().clone().requires_grad_(),))

@pytest.mark.parametrize('case', FUSED, ids=[c.id for c in FUSED])
def test_compile_fullgraph(case, closed):
    x,t = case.data(4, torch.float32, gen(0))
    lf = case.make(); x = x.requires_grad_()
    eager = lf(x, t); g_eager, = torch.autograd.grad(eager, x)
    torch._dynamo.reset()
    comp = torch.compile(lambda a, b: lf(a, b), fullgraph=True, backend='aot_eager')(x, t)
    g_comp, = torch.autograd.grad(comp, x)
    torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-4, atol=1e-6)

@pytest.mark.parametrize('case', FUSED, ids=[c.id for c in FUSED])
@pytest.mark.parametrize('dt', [torch.float16, torch.bfloat16])
def test_half_and_extremes(case, dt, closed):
    "Half-precision logits, moderate and extreme (±1e4): a finite loss and gradient, near float32's on moderate ones"
    x,t = case.data(8, torch.float32, gen(2))
    lf = case.make()
    l32,g32 = _value_grad(lf, x, t)
    lh,gh = _value_grad(lf, x.to(dt), t)
    torch.testing.assert_close(lh.float(), l32, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(gh.float(), g32, rtol=5e-2, atol=2e-2)
    with torch.autocast('cpu', dtype=dt):
        le,ge = _value_grad(lf, (x.sign()*1e4).to(dt), t)
    assert le.isfinite().all() and ge.isfinite().all()

def test_threshold(monkeypatch):
    "Small CPU inputs keep the graph (faster there); large ones, or no gradient wanted: as `use_closed_form` says"
    from fastai_losses.classification import FocalLossFlat
    x,t = torch.randn(8, 5, requires_grad=True),torch.randint(0, 5, (8,))
    assert not _closed_used(FocalLossFlat(), x, t)
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', 40)
    assert not _closed_used(FocalLossFlat(), x, t) # 5 classes: the fused cross-entropy's graph
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN_CLASSES', 5)
    assert _closed_used(FocalLossFlat(), x, t)
    with torch.no_grad(): assert FocalLossFlat()(x, t).grad_fn is None

INDUCTOR = [c for c in FUSED if c.id in ('FocalLossFlat', 'AsymmetricLossFlat')]
@pytest.mark.parametrize('case', INDUCTOR, ids=[c.id for c in INDUCTOR])
def test_compile_inductor(case, closed):
    "The default backend generates code for the closed form and gives its eager value and gradient"
    x,t = case.data(8, torch.float32, gen(0))
    lf = case.make(); x = x.requires_grad_()
    eager = lf(x, t); g_eager, = torch.autograd.grad(eager, x)
    torch._dynamo.reset()
    comp = torch.compile(lambda a, b: lf(a, b), fullgraph=True)(x, t)
    g_comp, = torch.autograd.grad(comp, x)
    torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-4, atol=1e-5)

@pytest.mark.parametrize('soft', [False, True])
@pytest.mark.parametrize('reduction', ['mean','sum','none'])
def test_asl_targets(soft, reduction, closed, monkeypatch):
    "ASL's closed form on 0/1 and soft targets over 3-D volumes equals autograd's graph to 1e-10, value and gradient"
    import fastai_losses.multilabel as ml
    seen,orig = [],ml._asl_closed
    def spy(*a): seen.append(a[2:]); return orig(*a) # records the gammas and the margin
    monkeypatch.setattr(ml, '_asl_closed', spy)
    g = gen(3)
    x = torch.randn(2, 3, 4, 5, 6, generator=g, dtype=torch.float64)*4 # a batch of 3-D volumes, 3 labels on axis 1
    t = torch.rand(x.shape, generator=g, dtype=torch.float64)
    t = t if soft else (t>0.6).double()
    cfgs = [(4.,1.,0.05), (2.,0.,0.1), (0.,2.,0.3), (1.,3.,0.), (0.,0.,0.05)]
    for gn,gp,m in cfgs:
        lf = ml.AsymmetricLossFlat(gamma_neg=gn, gamma_pos=gp, clip=m, axis=1, reduction=reduction)
        l1,g1 = _value_grad(lf, x, t)
        monkeypatch.setattr(core, 'CLOSED_FORM_MIN', float('inf'))
        l0,g0 = _value_grad(lf, x, t)
        monkeypatch.setattr(core, 'CLOSED_FORM_MIN', 0)
        torch.testing.assert_close(l1, l0, rtol=0, atol=1e-10); torch.testing.assert_close(g1, g0, rtol=0, atol=1e-10)
    assert seen==cfgs # the closed form ran once per configuration, the graph path never called it

SEG_LOSSES = ['DiceLossFlat()', "JaccardLossFlat(per_image=True, reduction='none')",
              'TverskyLossFlat(alpha=0.3, beta=0.7)', 'FocalTverskyLossFlat()', 'GeneralizedDiceLossFlat()',
              'MCCLossFlat()', "DiceCELossFlat(reduction='sum')"]

@pytest.mark.parametrize('loss', SEG_LOSSES)
@pytest.mark.parametrize('c', [2, 5, 21, 300])
@pytest.mark.parametrize('spatial', [(6, 7), (3, 4, 5)], ids=['2d','3d'])
@pytest.mark.parametrize('ignore', [None, 1])
def test_softmax_sums(loss, c, spatial, ignore, monkeypatch):
    "Multiclass overlap losses through `_SoftmaxSums` (from 5 classes on the CPU) give the graph's values and gradients"
    import fastai_losses.segmentation as seg, fastai_losses.all as fl
    monkeypatch.setattr(seg, '_FUSED_MIN', 5) # the library's threshold (conftest lowers it for the registry)
    g = gen(c)
    x = torch.randn((3, c)+spatial, generator=g, dtype=torch.float64)*3
    t = torch.randint(0, c, (3,)+spatial, generator=g)
    if ignore is not None: t[0, 0] = ignore; t[1] = ignore # a pixel row, and a whole image
    lf = eval('fl.'+loss.replace('(', f'(ignore_index={ignore}, ', 1).replace(', )', ')'))
    if ignore is not None: assert (lf(x, t)-eval("fl."+loss)(x, t)).abs().max()>1e-6 # the ignored pixels count
    xr = x.clone().requires_grad_()
    l1 = lf(xr, t)
    assert _through(l1, '_SoftmaxSums')==(c>=5), loss # the threshold
    gk, = torch.autograd.grad(l1.sum(), xr, retain_graph=True) # the kept-graph (out-of-place) backward
    gi, = torch.autograd.grad(l1.sum(), xr) # the in-place one (out of place too above 256 classes)
    monkeypatch.setattr(seg, '_FUSED_MIN', float('inf'))
    l0,g0 = _value_grad(lf, x, t)
    assert not _through(lf(xr, t), '_SoftmaxSums')
    torch.testing.assert_close(l1.detach(), l0, rtol=0, atol=1e-10)
    torch.testing.assert_close(gk, g0, rtol=0, atol=1e-10); torch.testing.assert_close(gi, g0, rtol=0, atol=1e-10)

TURNED_OFF = FUSED + [c for c in by_family('segmentation')
                      if c.id.split('-')[0] in ('DiceLossFlat','LovaszSoftmaxLossFlat')]
@pytest.mark.parametrize('case', TURNED_OFF, ids=[c.id for c in TURNED_OFF])
def test_turned_off(case, monkeypatch):
    "`CLOSED_FORM_MIN = inf` keeps the graph (no `ClosedForm`, `_SoftmaxSums`, `_Permuted`): gradient penalties run"
    import fastai_losses.segmentation as seg
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', 0); monkeypatch.setattr(core, 'CLOSED_FORM_MIN_CLASSES', 0)
    monkeypatch.setattr(seg, '_FUSED_MIN', 0) # every size takes them
    x,t = case.data(4, torch.float64, gen(2))
    lf = case.make(); x = x.detach().clone().requires_grad_()
    def custom(): return any(_through(lf(x, t), n) for n in ('ClosedForm', '_SoftmaxSums', '_Permuted'))
    falls_back = any(k in case.id for k in ('weight', 'gamma0.5', 'gamma_pos0.5', 'binary', 'multilabel', 'square'))
    assert custom()!=falls_back # before: the cases that take a custom backward take it
    monkeypatch.setattr(core, 'CLOSED_FORM_MIN', float('inf'))
    assert not custom()
    g, = torch.autograd.grad(lf(x, t).sum(), x, create_graph=True)
    g.square().sum().backward(); assert x.grad.isfinite().all()
