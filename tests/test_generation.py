"Generation losses beyond the registry's suites: the frozen extractor through `fit`, export size, offline VGG-16, and PSNR/SSIM against kornia"
import pickle, urllib.error, pytest, torch, torch.nn as nn
from fastcore.test import test_close as close, test_eq as eq, test_fail as fails
from fastai.data.core import Datasets
from fastai.data.transforms import ItemGetter
from fastai.learner import Learner, load_learner
from fastai.callback.training import bn_types
import fastai.callback.progress, fastai.callback.core # Learner.no_bar
from fastai_losses.all import *
from fastai_losses.backbones import WeightsUnavailable

pytestmark = pytest.mark.generation # not parametrized over the registry, all about its generation family

def _img_learner(loss_func, n=48, path=None):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(n, 3, 16, 16, generator=g); x = (y+0.1*torch.randn(n, 3, 16, 16, generator=g)).clamp(0, 1)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=[range(32), range(32, n)])
    torch.manual_seed(0)
    return Learner(dss.dataloaders(bs=8, device='cpu'), nn.Conv2d(3, 3, 3, padding=1), loss_func=loss_func, path=path or '.')

def test_extractor_frozen_through_fit():
    "No extractor parameter requires grad, none is in the optimiser, none changes, and its BatchNorm stays in eval mode through `fit`"
    pl = PerceptualLoss('efficientnet_lite0', style_weight=1.)
    before = {k: v.clone() for k,v in pl.net.state_dict().items()}
    learn = _img_learner(pl)
    class BnWatch(fastai.callback.core.Callback):
        def after_batch(self): self.modes = getattr(self, 'modes', set()) | {m.training for m in pl.net.modules() if isinstance(m, bn_types)}
    learn.add_cb(BnWatch())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    eq(learn.bn_watch.modes, {False})
    opt_ids = {id(p) for pg in learn.opt.param_lists for p in pg}
    assert not any(id(p) in opt_ids for p in pl.net.parameters()) and not any(p.requires_grad for p in pl.net.parameters())
    for k,v in pl.net.state_dict().items(): eq(v, before[k]) # weights and BatchNorm running statistics unchanged
    assert any((a!=b).any() for a,b in zip(learn.model.parameters(), _img_learner(pl).model.parameters())) # the model did train

def test_export_leaves_out_the_extractor(tmp_path):
    "`learn.export()` holds the model and the loss's settings, not the extractor: the exported file is far smaller than its weights"
    pl = PerceptualLoss('efficientnet_lite0')
    learn = _img_learner(pl, path=tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    learn.export('export.pkl')
    size,weights = (tmp_path/'export.pkl').stat().st_size,sum(p.numel()*4 for p in pl.net.parameters())
    assert size < weights/10, (size, weights)
    l2 = load_learner(tmp_path/'export.pkl')
    assert l2.loss_func.net is None
    with learn.no_bar(): a = learn.get_preds(with_loss=True)
    with l2.no_bar(): b = l2.get_preds(dl=learn.dls.valid, with_loss=True)
    close(a[0], b[0]); close(a[2], b[2]) # the rebuilt extractor gives the same per-image losses
    assert l2.loss_func.net is not None

def test_vgg16_offline_names_the_alternative(monkeypatch):
    "Without network, VGG-16's weights cannot download: a `WeightsUnavailable` that names the offline arch, not a bare URLError"
    import torchvision.models as tvm
    def no_net(*a, weights=None, **k):
        if weights is not None: raise urllib.error.URLError('no network')
        return tvm.vgg.VGG(tvm.vgg.make_layers(tvm.vgg.cfgs['D']))
    monkeypatch.setattr(tvm, 'vgg16', no_net)
    fails(lambda: PerceptualLoss('vgg16'), contains="use arch='efficientnet_lite0'", exc=WeightsUnavailable)
    pv = PerceptualLoss('vgg16', pretrained=False)
    eq(pv.layers, (3, 8, 15, 22)); eq(len(pv.net), 23)
    assert all(isinstance(pv.net[i], nn.ReLU) and not pv.net[i].inplace for i in pv.layers)
    x = torch.rand(2, 3, 32, 32); assert pv(x, x.flip(-1)) > 0

def test_follows_input_dtype_and_back():
    pl = PerceptualLoss('efficientnet_lite0', layers=(0,))
    x,y = torch.rand(2, 3, 16, 16),torch.rand(2, 3, 16, 16)
    l32 = pl(x, y)
    eq(pl(x.double(), y.double()).dtype, torch.float64); eq(next(pl.net.parameters()).dtype, torch.float64)
    close(pl(x, y), l32); eq(next(pl.net.parameters()).dtype, torch.float32)
    eq(pl(x.half(), y.half()).dtype, torch.float32)

kornia = pytest.importorskip('kornia')
def test_psnr_ssim_against_kornia():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 32, 32, generator=g); b = (a+0.1*torch.randn(4, 3, 32, 32, generator=g)).clamp(0, 1)
    close(psnr(a, b), torch.stack([kornia.metrics.psnr(a[i], b[i], 1.) for i in range(4)]).mean(), eps=1e-4)
    close(ssim(a, b), kornia.metrics.ssim(a, b, 11, padding='valid', eps=0.).mean(), eps=1e-5)

# --- the restoration losses against kornia's own code: float64 values and input gradients to 1e-6, random and edge inputs
def _pairs():
    "Random images, identical images, constant images, a constant against a random one, a shifted copy"
    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 3, 24, 24, generator=g, dtype=torch.float64)
    b = (a+0.2*torch.randn(3, 3, 24, 24, generator=g, dtype=torch.float64)).clamp(0, 1)
    c = torch.full_like(a, 0.4)
    return dict(random=(a, b), identical=(a, a.clone()), constant=(c, c.clone()), const_vs_random=(c, b),
                constants=(c, c+0.3), shifted=(a, a.roll(1, -1)))

def _agree(ours, ref, x, t):
    "Values and gradients (of a random weighting of the outputs) of `ours` and `ref` at (`x`, `t`) in float64, to 1e-6"
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    o,r = ours(x1, t),ref(x2, t)
    close(o, r, eps=1e-6)
    w = torch.rand(o.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    (o*w).sum().backward(); (r*w).sum().backward()
    close(x1.grad, x2.grad, eps=1e-6)

per_image = lambda l: l.flatten(1).mean(1)
def kornia_ms(**kwargs):
    "kornia's `MS_SSIMLoss` with its Gaussian masks built in float64 (kornia builds them in float32: 2e-6 off at a border)"
    m = kornia.losses.MS_SSIMLoss(**kwargs)
    m._g_masks = torch.stack([m._fspecial_gauss_2d(33, s, dtype=torch.float64) for s in (0.5, 1., 2., 4., 8.)]).unsqueeze(1)
    return m
RESTORATION = {
    'ssim-same': (lambda x, t: ssim_loss(x, t, padding='reflect', eps=1e-12, reduction='none'),
                  lambda x, t: 2*per_image(kornia.losses.ssim_loss(x, t, 11, reduction='none'))),
    'ssim-valid': (lambda x, t: SSIMLossFlat(win=7, reduction='none')(x, t),
                   lambda x, t: 2*per_image(kornia.losses.ssim_loss(x, t, 7, eps=0., reduction='none', padding='valid'))),
    'ssim-metric': (lambda x, t: ssim(x, t)[None], lambda x, t: kornia.metrics.ssim(x, t, 11, padding='valid', eps=0.).mean()[None]),
    'msssim': (lambda x, t: MSSSIMLossFlat(reduction='none')(x, t),
               lambda x, t: per_image(kornia_ms(alpha=1., compensation=1., reduction='none')(x, t))),
    'msssim_l1': (lambda x, t: MSSSIML1LossFlat(reduction='none')(x, t),
                  lambda x, t: per_image(kornia_ms(alpha=0.84, compensation=1., reduction='none')(x, t))),
    'msssim-kornia-defaults': (lambda x, t: MSSSIML1LossFlat(alpha=0.025, compensation=200.)(x, t)[None],
                               lambda x, t: kornia_ms()(x, t)[None]),
    'charbonnier': (lambda x, t: CharbonnierLossFlat(eps=1., reduction='none')(x, t),
                    lambda x, t: per_image(kornia.losses.charbonnier_loss(x, t, reduction='none'))),
    'tv-mean': (lambda x, t: TotalVariationLossFlat(reduction='none')(x, t),
                lambda x, t: kornia.losses.total_variation(x, reduction='mean').mean(1)),
    'tv-sum': (lambda x, t: TotalVariationLossFlat(average=False, reduction='none')(x, t),
               lambda x, t: kornia.losses.total_variation(x, reduction='sum').sum(1)),
}

@pytest.mark.parametrize('inputs', list(_pairs()))
@pytest.mark.parametrize('loss', list(RESTORATION))
def test_restoration_against_kornia(loss, inputs):
    ours,ref = RESTORATION[loss]
    _agree(ours, ref, *_pairs()[inputs])

def test_ssim_3d_against_kornia():
    "Volumes: our SSIM with a separable 3-D window is kornia's `ssim3d` (reflect padding, eps 1e-12)"
    g = torch.Generator().manual_seed(4)
    v = torch.rand(2, 2, 12, 13, 14, generator=g, dtype=torch.float64); w = (v+0.2*torch.randn(v.shape, generator=g, dtype=torch.float64))
    for x,t in ((v, w), (v, v.clone())):
        _agree(lambda x, t: ssim_loss(x, t, win=5, padding='reflect', eps=1e-12, reduction='none'),
               lambda x, t: 2*per_image(kornia.losses.ssim3d_loss(x, t, 5, reduction='none')), x, t)

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize('make', [lambda: SSIMLossFlat(), lambda: MSSSIMLossFlat(), lambda: MSSSIML1LossFlat(),
                                  lambda: CharbonnierLossFlat(), lambda: TotalVariationLossFlat()], ids=['ssim', 'msssim', 'msssim_l1', 'charbonnier', 'tv'])
def test_restoration_extreme_half_inputs_finite(make, dtype):
    "The largest finite half values, a checkerboard of ± them, and zeros against images in [0, 1]: finite losses and gradients"
    m = torch.finfo(dtype).max
    t = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    board = (torch.arange(16)[:, None]+torch.arange(16)).remainder(2)*2-1.
    for x in (torch.full_like(t, m), torch.full_like(t, -m), (board*m).expand_as(t), torch.zeros_like(t)):
        x = x.to(dtype).requires_grad_()
        l = make()(x, t); l.backward()
        assert torch.isfinite(l) and torch.isfinite(x.grad.float()).all(), (l, dtype)
