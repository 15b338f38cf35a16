"""`PerceptualLoss` against the hook-based feature loss of fastai's super-resolution lesson (course v3, lesson 7), same weights
and layers, measured in the same run: forward+backward time, ours / theirs (below 1: ours is faster).

The lesson's loss hooks the chosen layers and runs the whole network; ours runs the stages up to the deepest chosen layer only,
and computes the target's features without a graph. Usage: python benchmarks/perceptual.py [--out benchmarks/results_perceptual.md]"""
import argparse, platform, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch, torch.nn as nn, torch.nn.functional as F
from torch.utils import benchmark
from fastai.callback.hook import hook_outputs
from fastai.vision.core import imagenet_stats
from fastai_losses.all import PerceptualLoss, gram_matrix
from fastai_losses.backbones import EfficientNetLite0Body

class LessonFeatureLoss(nn.Module):
    "fastai lesson 7's `FeatureLoss`: hooks on `layers` of `m_feat`, whose whole forward runs for input and target"
    def __init__(self, m_feat, layers, mean, std, style_weight=0.):
        super().__init__(); self.m_feat,self.style_weight = m_feat,style_weight
        self.hooks = hook_outputs(layers, detach=False)
        self.register_buffer('m', torch.tensor(mean).view(1, 3, 1, 1)); self.register_buffer('s', torch.tensor(std).view(1, 3, 1, 1))
    def make_features(self, x, clone=False):
        self.m_feat((x-self.m)/self.s)
        return [(o.clone() if clone else o) for o in self.hooks.stored]
    def forward(self, input, target):
        out_feat = self.make_features(target, clone=True); in_feat = self.make_features(input)
        loss = F.l1_loss(input, target) + sum(F.l1_loss(a, b) for a,b in zip(in_feat, out_feat))
        if self.style_weight: loss = loss + self.style_weight*sum(((gram_matrix(a)-gram_matrix(b))**2).sum((1, 2)).mean() for a,b in zip(in_feat, out_feat))
        return loss

def pair(arch, style):
    "(ours, the lesson's) on the same weights and layers"
    ours = PerceptualLoss(arch, style_weight=style, pretrained=arch!='vgg16') # VGG-16's weights need a download: random ones time the same
    if arch=='vgg16':
        import torchvision
        full = torchvision.models.vgg16().features.eval(); full.load_state_dict({k: v for k,v in nn.Sequential(*ours.net).state_dict().items()}, strict=False)
        for p in full.parameters(): p.requires_grad_(False)
        ref = LessonFeatureLoss(full, [full[i] for i in ours.layers], *imagenet_stats, style)
    else:
        body = EfficientNetLite0Body().net.eval()
        for p in body.parameters(): p.requires_grad_(False)
        ref = LessonFeatureLoss(body.extract_features, [body._blocks[i] for i in ours.layers], [0.5]*3, [0.5]*3, style)
        ref.body = body
    return ours,ref

def time_ms(f, x, y):
    def step():
        x.grad = None; f(x, y).backward()
    return benchmark.Timer(stmt='step()', globals=dict(step=step)).blocked_autorange(min_run_time=1.).median*1e3

if __name__=='__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--out', default=str(Path(__file__).parent/'results_perceptual.md')); a = ap.parse_args()
    rows = []
    for arch,(bs,size) in [('efficientnet_lite0', (16, 64)), ('efficientnet_lite0', (4, 224)), ('vgg16', (16, 64)), ('vgg16', (2, 224))]:
        for style in (0., 1.):
            ours,ref = pair(arch, style)
            g = torch.Generator().manual_seed(0)
            y = torch.rand(bs, 3, size, size, generator=g); x = (y+0.05*torch.randn(bs, 3, size, size, generator=g)).clamp(0, 1).requires_grad_()
            torch.testing.assert_close(ours(x, y), ref(x, y), rtol=1e-4, atol=1e-5) # the same loss
            t_ours,t_ref = time_ms(ours, x, y),time_ms(ref, x, y)
            rows.append(f"| {arch} | {style:g} | ({bs}, 3, {size}, {size}) | {t_ours:.1f} | {t_ref:.1f} | {t_ours/t_ref:.2f} |")
            print(rows[-1], flush=True)
    head = [f"`PerceptualLoss` against fastai lesson 7's hook-based `FeatureLoss` on the same weights and layers: forward+backward time "
            f"(median, `torch.utils.benchmark`), ours / theirs, below 1 is faster. CPU ({platform.machine()}, {torch.get_num_threads()} threads); torch {torch.__version__}. "
            "Each row first checks that both give the same value.", '',
            "| arch | style weight | input | ours (ms) | lesson (ms) | time ratio |", "|---|---|---|---|---|---|"]
    Path(a.out).write_text('\n'.join(head+rows)+'\n')
