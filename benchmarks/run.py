"""Speed and memory of our losses against fastai's, the peers' (torchvision, kornia, segmentation_models_pytorch, MONAI, timm, pytorch-metric-learning)
and the fused-kernel floor (`F.cross_entropy`, `F.binary_cross_entropy_with_logits`), measured in the same run.

Time: forward+backward, `torch.utils.benchmark` (median of blocked autorange). Saved: the bytes of the tensors autograd saves
for backward, counted with `torch.autograd.graph.saved_tensors_hooks` (machine-independent). Peak: the bytes allocated during
one forward+backward, from the torch profiler's memory events (CPU), or `torch.cuda.max_memory_allocated` on a GPU.
Printed as ratios, ours / theirs: below 1 means ours is faster or smaller. `--crossover` times the closed-form backward
against autograd's graph by size (the choice `CLOSED_FORM_MIN` makes).

Usage: python benchmarks/run.py [--quick] [--device cpu|cuda] [--out benchmarks/results.md]
"""
import argparse, math, os, platform, sys, time, warnings
os.environ.setdefault('KINETO_LOG_LEVEL', '5') # the profiler's start/stop lines
from pathlib import Path
warnings.filterwarnings('ignore')
import torch, torch.nn.functional as F
from torch.utils import benchmark
from fastai_losses.all import *
import fastai.losses as fl

def _try(f):
    try: return f()
    except Exception as e: return None

# --- the peers, each made to take (logits, target) as our losses do -------------------------------------------------
def peers():
    P = {}
    from torchvision.ops import sigmoid_focal_loss
    P['torchvision'] = dict(binary_focal=lambda x,t: sigmoid_focal_loss(x, t, reduction='mean'))
    P['fastai'] = dict(ce=fl.CrossEntropyLossFlat(), focal=fl.FocalLossFlat(gamma=2.), ls=fl.LabelSmoothingCrossEntropyFlat(eps=0.1),
                       bce=fl.BCEWithLogitsLossFlat(), mse=fl.MSELossFlat(),
                       dice=fl.DiceLoss(axis=1, smooth=1., reduction='mean'))
    k = _try(lambda: __import__('kornia.losses', fromlist=['x']))
    if k: P['kornia'] = dict(focal=lambda x,t: k.focal_loss(x, t, alpha=None, gamma=2., reduction='mean'),
                             binary_focal=lambda x,t: k.binary_focal_loss_with_logits(x, t, alpha=0.25, gamma=2., reduction='mean'),
                             dice=lambda x,t: k.dice_loss(x, t, average='macro'),
                             tversky=lambda x,t: k.tversky_loss(x, t, alpha=0.5, beta=0.5),
                             lovasz=lambda x,t: k.lovasz_softmax_loss(x, t), **restoration_peers(k),
                             lovasz_per_image=lambda x,t: k.lovasz_softmax_loss(x, t)) # kornia scores each image on its own
    s = _try(lambda: __import__('segmentation_models_pytorch.losses', fromlist=['x']))
    if s: P['smp'] = dict(dice=s.DiceLoss('multiclass', smooth=1.), jaccard=s.JaccardLoss('multiclass', smooth=1.),
                          tversky=s.TverskyLoss('multiclass', smooth=1., alpha=0.5, beta=0.5), lovasz=s.LovaszLoss('multiclass'),
                          dice_binary=s.DiceLoss('binary', smooth=1.), binary_focal=s.FocalLoss('binary', alpha=0.25, gamma=2.),
                          log_dice=s.DiceLoss('multiclass', smooth=1., log_loss=True), lovasz_hinge=s.LovaszLoss('binary'),
                          mcc_binary=lambda x,t,f=s.MCCLoss(): f(torch.sigmoid(x), t), lovasz_per_image=s.LovaszLoss('multiclass', per_image=True))
    m = _try(lambda: __import__('monai.losses', fromlist=['x']))
    if m:
        md = m.DiceLoss(to_onehot_y=True, softmax=True, batch=True, smooth_nr=1., smooth_dr=1.)
        mj = m.DiceLoss(to_onehot_y=True, softmax=True, batch=True, jaccard=True, smooth_nr=1., smooth_dr=1.)
        mt = m.TverskyLoss(to_onehot_y=True, softmax=True, batch=True, alpha=0.5, beta=0.5, smooth_nr=1., smooth_dr=1.)
        mb = m.DiceLoss(sigmoid=True, batch=True, smooth_nr=1., smooth_dr=1.)
        mf = m.FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.)
        P['monai'] = dict(dice=lambda x,t: md(x, t.unsqueeze(1)), jaccard=lambda x,t: mj(x, t.unsqueeze(1)), tversky=lambda x,t: mt(x, t.unsqueeze(1)),
                          dice_binary=mb, focal=lambda x,t: mf(x, t.unsqueeze(1)))
        # issue 26: the segmentation losses MONAI has
        oh = dict(to_onehot_y=True, softmax=True)
        mg,mdc,mhd,mcl = m.GeneralizedDiceLoss(batch=True, **oh),m.DiceCELoss(**oh),m.HausdorffDTLoss(**oh),m.SoftclDiceLoss(**oh)
        P['monai'].update(gdl=lambda x,t: mg(x, t.unsqueeze(1)), dicece=lambda x,t: mdc(x, t.unsqueeze(1)),
                          hausdorff=lambda x,t: mhd(x, t.unsqueeze(1)), cldice=lambda x,t: mcl(x, t.unsqueeze(1)),
                          dicefocal_binary=m.DiceFocalLoss(sigmoid=True))
    pm = _try(lambda: __import__('pytorch_metric_learning.losses', fromlist=['x']))
    if pm: P['pml'] = dict(arcface=lambda x,t: _pml_centre(pm.ArcFaceLoss, x)(x, t), cosface=lambda x,t: _pml_centre(pm.CosFaceLoss, x)(x, t),
                           subcenter_arcface=lambda x,t: _pml_centre(pm.SubCenterArcFaceLoss, x)(x, t))
    tl = _try(lambda: __import__('timm.loss', fromlist=['x']))
    if tl:
        tls,tasl,tpoly = tl.LabelSmoothingCrossEntropy(0.1),tl.AsymmetricLossMultiLabel(gamma_neg=4, gamma_pos=1, clip=0.05),_try(lambda: tl.PolyCrossEntropy(epsilon=1.))
        P['timm'] = dict(ls=tls, asl=tasl, **({'poly': tpoly} if tpoly else {}))
    ml = _try(lambda: __import__('pytorch_metric_learning.losses', fromlist=['x']))
    if ml: # issue 27: pml takes every view as an embedding, the label repeated per view
        nt = ml.NTXentLoss()
        P.setdefault('pml', {}).update(supcon=ml.SupConLoss(), ms=ml.MultiSimilarityLoss(), # beside the margin losses
                        ntxent=lambda x,t: nt(x.flatten(0, 1), t.repeat_interleave(x.shape[1])))
    P['torch'] = dict(hinge=torch.nn.HingeEmbeddingLoss(margin=1.))
    # issue 28: torch's remaining losses, fastai's `BCELossFlat`, and coral-pytorch's ordinal losses (levels made vectorised)
    P['torch'].update(poisson=torch.nn.PoissonNLLLoss(), soft_margin=torch.nn.SoftMarginLoss(), multi_margin=torch.nn.MultiMarginLoss(),
                      bce_probs=torch.nn.BCELoss())
    P['fastai']['bce_probs'] = fl.BCELossFlat()
    # issue 28: missing-target options on a batch with none missing, against the same loss without the option
    P['no option'] = dict(bce_ignore_nan=BCEWithLogitsLossFlat(), bce_ignore_index=BCEWithLogitsLossFlat(), mse_ignore_nan=MSELossFlat())
    cp = _try(lambda: __import__('coral_pytorch.losses', fromlist=['x']))
    if cp: P['coral-pytorch'] = dict(coral=lambda x,t: cp.coral_loss(x, (t[:,None]>torch.arange(x.shape[1], device=x.device)).float()),
                                     corn=lambda x,t: cp.corn_loss(x, t, num_classes=x.shape[1]+1))
    return P

_PML = {}
def _pml_centre(cls, x):
    "pml's margin loss for embeddings `x` with the centres of our case (`EMB_CASES`) copied into its `W`, built once per shape"
    key = (cls.__name__, tuple(x.shape), x.device)
    if key not in _PML:
        ours = _EMB_OURS[(cls.__name__, tuple(x.shape))]
        l = cls(num_classes=EMB_CLASSES, embedding_size=x.shape[1], **({'sub_centers': 3} if 'SubCenter' in cls.__name__ else {})).to(x.device)
        l.W.data = ours.centres.detach().reshape(-1, x.shape[1]).t().contiguous()
        _PML[key] = l
    return _PML[key]

def restoration_peers(k):
    "kornia's restoration losses, set as the restoration cases below are"
    ms,ms_l1 = k.MS_SSIMLoss(alpha=1., compensation=1.),k.MS_SSIMLoss(alpha=0.84, compensation=1.)
    return dict(ssim=lambda x,t: k.ssim_loss(x, t, 11), msssim=lambda x,t: ms.to(x.device)(x, t),
                msssim_l1=lambda x,t: ms_l1.to(x.device)(x, t), charbonnier=lambda x,t: k.charbonnier_loss(x, t, reduction='mean'),
                tv=lambda x,t: k.total_variation(x, reduction='mean').mean())

FLOORS = {'softmax': lambda x,t: F.cross_entropy(x, t), 'sigmoid': lambda x,t: F.binary_cross_entropy_with_logits(x, t),
          'mse': lambda x,t: F.mse_loss(x, t), 'huber': lambda x,t: F.huber_loss(x, t)}

# --- the cases: (name, ours, data maker, family, shapes) -----------------------------------------------------------------
def cls_data(n, c, dev):  return lambda: (torch.randn(n, c, device=dev)*2, torch.randint(0, c, (n,), device=dev))
def ml_data(n, c, dev):   return lambda: (torch.randn(n, c, device=dev)*2, (torch.rand(n, c, device=dev)>0.7).float())
def seg_data(s, dev):     return lambda: (torch.randn(*s, device=dev), torch.randint(0, s[1], (s[0],)+s[2:], device=dev))
def segb_data(s, dev):    return lambda: (torch.randn(*s, device=dev), (torch.rand((s[0],)+s[2:], device=dev)>0.5).float())
def img_data(s, dev):     return lambda: (torch.rand(*s, device=dev), torch.rand(*s, device=dev))
def reg_data(n, dev):     return lambda: (torch.randn(n, device=dev), torch.randn(n, device=dev))
def emb_data(s, dev):     return lambda: (torch.randn(*s, device=dev), torch.randint(0, s[0]//8, (s[0],), device=dev)) # 8 per class
def view_data(s, dev):    return lambda: (torch.randn(*s, device=dev), torch.arange(s[0], device=dev)) # SimCLR: one id per item
def sign_data(n, dev):    return lambda: (torch.rand(n, device=dev)*2, torch.where(torch.rand(n, device=dev)>0.5, 1, -1))

def cases(quick, dev):
    cls = [(4096, 37), (256, 1000)] + ([(8*64, 32000)] if quick else [(8*512, 32000)])
    seg = (2, 21, 128, 128) if quick else (8, 21, 256, 256)
    segb = (4, 1, 128, 128) if quick else (16, 1, 256, 256)
    reg = 100_000 if quick else 1_000_000
    C = []
    for n,c in cls:
        sh = f"({n}, {c})"
        C += [('ce', CrossEntropyLossFlat(), cls_data(n, c, dev), 'softmax', sh),
              ('focal', FocalLossFlat(gamma=2.), cls_data(n, c, dev), 'softmax', sh),
              ('ls', LabelSmoothingCrossEntropyFlat(eps=0.1), cls_data(n, c, dev), 'softmax', sh),
              ('poly', PolyLossFlat(epsilon=1.), cls_data(n, c, dev), 'softmax', sh)]
    C += [('bce', BCEWithLogitsLossFlat(), ml_data(4096, 37, dev), 'sigmoid', '(4096, 37)'),
          ('binary_focal', BinaryFocalLossFlat(), ml_data(4096, 37, dev), 'sigmoid', '(4096, 37)'),
          ('asl', AsymmetricLossFlat(), ml_data(4096, 37, dev), 'sigmoid', '(4096, 37)')]
    sh = str(seg)
    C += [('dice', DiceLossFlat(), seg_data(seg, dev), 'softmax', sh), ('jaccard', JaccardLossFlat(), seg_data(seg, dev), None, sh),
          ('tversky', TverskyLossFlat(), seg_data(seg, dev), None, sh), ('lovasz', LovaszSoftmaxLossFlat(), seg_data(seg, dev), None, sh),
          ('lovasz_per_image', LovaszSoftmaxLossFlat(per_image=True), seg_data(seg, dev), None, sh)]
    if not quick: C += [('dice', DiceLossFlat(), seg_data((8, 21, 128, 128), dev), 'softmax', '(8, 21, 128, 128)')] # issue 31's shape
    C += [('dice_binary', DiceLossFlat(mode='binary'), segb_data(segb, dev), None, str(segb)),
          ('binary_focal', BinaryFocalLossFlat(), segb_data(segb, dev), 'sigmoid', str(segb))]
    C += [('mse', MSELossFlat(), reg_data(reg, dev), 'mse', f"({reg},)"), ('huber', HuberLossFlat(), reg_data(reg, dev), 'huber', f"({reg},)")]
    # issue 26 (`--only` them and write benchmarks/results_segmentation.md): two shapes each, an image batch and a volume batch
    for s in ([(4, 4, 64, 64), (2, 2, 32, 32, 32)] if quick else [(8, 4, 128, 128), (2, 2, 64, 64, 64)]):
        b,sh = (s[0], 1)+s[2:],str(s)
        C += [('log_dice', DiceLossFlat(log_loss=True), seg_data(s, dev), None, sh), ('gdl', GeneralizedDiceLossFlat(), seg_data(s, dev), None, sh),
              ('dicece', DiceCELossFlat(smooth=1e-5, per_image=True), seg_data(s, dev), None, sh),
              ('mcc_binary', MCCLossFlat(mode='binary'), segb_data(b, dev), None, str(b)),
              ('dicefocal_binary', DiceFocalLossFlat(mode='binary', smooth=1e-5, per_image=True), segb_data(b, dev), None, str(b)),
              ('lovasz_hinge', LovaszHingeLossFlat(), segb_data(b, dev), None, str(b)),
              ('boundary', BoundaryLossFlat(), seg_data(s, dev), None, sh), ('hausdorff', HausdorffDTLossFlat(), seg_data(s, dev), None, sh),
              ('cldice', ClDiceLossFlat(per_image=True, include_background=True, eps=1e-4), seg_data(s, dev), None, sh)]
    for s in (((4, 3, 64, 64),) if quick else ((16, 3, 64, 64), (4, 3, 256, 256))): # restoration, each set as kornia's peer in `restoration_peers`
        C += [('ssim', SSIMLossFlat(padding='reflect', eps=1e-12), img_data(s, dev), None, str(s)),
              ('msssim', MSSSIMLossFlat(), img_data(s, dev), None, str(s)), ('msssim_l1', MSSSIML1LossFlat(), img_data(s, dev), None, str(s)),
              ('charbonnier', CharbonnierLossFlat(eps=1.), img_data(s, dev), None, str(s)),
              ('tv', TotalVariationLossFlat(), img_data(s, dev), None, str(s))]
    # issue 27: the margin losses with class centres, against pml's (same centres), 100 classes of 128-d embeddings
    for n in ((256,) if quick else (256, 1024)):
        for name,cls in (('arcface', ArcFaceLossFlat), ('cosface', CosFaceLossFlat), ('subcenter_arcface', SubCenterArcFaceLossFlat)):
            ours = cls(EMB_CLASSES, 128); ours.to(dev) # `BaseLoss.to` returns None
            _EMB_OURS[({'arcface': 'ArcFaceLoss', 'cosface': 'CosFaceLoss'}.get(name, 'SubCenterArcFaceLoss'), (n, 128))] = ours
            C.append((name, ours, cls_data_emb(n, 128, dev), None, f"({n}, 128)"))
    for n in ((256,) if quick else (256, 1024)): # issue 27: metric learning, embeddings of dimension 128, against pml
        e,v = (n, 128),(n//2, 2, 128) # NT-Xent: n embeddings as n/2 items of two views
        C += [('supcon', SupConLossFlat(), emb_data(e, dev), None, str(e)), ('ms', MultiSimilarityLossFlat(), emb_data(e, dev), None, str(e))]
        # pml's NT-Xent holds a (positive pairs, negative pairs) matrix: 1024 views take ~4 GiB per copy, beyond this machine
        if n<=256 or dev=='cuda': C += [('ntxent', NTXentLossFlat(), view_data(v, dev), None, str(v))]
    C += [('hinge', HingeEmbeddingLossFlat(), sign_data(reg, dev), None, f"({reg},)")]
    # issue 28 (`--only` them and write benchmarks/results_targets.md)
    C += [('bce_probs', BCELossFlat(), prob_data(4096, 37, dev), None, '(4096, 37)'),
          ('poisson', PoissonNLLLossFlat(), count_data(reg, dev), None, f"({reg},)"),
          ('soft_margin', SoftMarginLossFlat(), sign_data(reg, dev), None, f"({reg},)")]
    for n,c in ((4096, 37), (256, 1000)): C += [('multi_margin', MultiMarginLossFlat(), cls_data(n, c, dev), 'softmax', f"({n}, {c})")]
    for n,c in ((4096, 37), (256, 1000)): # issue 28: the noisy-label and long-tail losses, against `F.cross_entropy` (no peer has them)
        cnt,sh = torch.logspace(3, 0, c).round(),f"({n}, {c})" # a long tail: 1000 items for the first class down to 1 for the last
        C += [('gce', GCELossFlat(), cls_data(n, c, dev), 'softmax', sh), ('sce', SCELossFlat(), cls_data(n, c, dev), 'softmax', sh),
              ('bootstrap', BootstrappedCELossFlat(), cls_data(n, c, dev), 'softmax', sh),
              ('bootstrap_hard', BootstrappedCELossFlat(hard=True), cls_data(n, c, dev), 'softmax', sh),
              ('logit_adjusted', LogitAdjustedLossFlat(class_counts=cnt), cls_data(n, c, dev), 'softmax', sh),
              ('balanced_softmax', BalancedSoftmaxLossFlat(class_counts=cnt), cls_data(n, c, dev), 'softmax', sh)]
    for n,c in ((64, 37), (4096, 37), (64, 16384)): # issue 28: masking's cost when nothing is missing (`no option`: the plain loss)
        C += [('bce_ignore_nan', BCEWithLogitsLossFlat(ignore_nan=True), ml_data(n, c, dev), None, f"({n}, {c})"),
              ('bce_ignore_index', BCEWithLogitsLossFlat(ignore_index=-1), ml_data(n, c, dev), None, f"({n}, {c})")]
    for n in (256, reg): C += [('mse_ignore_nan', MSELossFlat(ignore_nan=True), reg_data(n, dev), None, f"({n},)")]
    for n,k in ((4096, 10), (65536, 10)): # K-1 = 9 logits for 10 ranks
        C += [('coral', CORALLossFlat(), ord_data(n, k, dev), None, f"({n}, {k-1})"), ('corn', CORNLossFlat(), ord_data(n, k, dev), None, f"({n}, {k-1})")]
    return C

def prob_data(n, c, dev): return lambda: (torch.rand(n, c, device=dev)*0.98+0.01, (torch.rand(n, c, device=dev)>0.7).float())
def count_data(n, dev):   return lambda: (torch.randn(n, device=dev), torch.poisson(torch.full((n,), 3., device=dev)))
def ord_data(n, k, dev):  return lambda: (torch.randn(n, k-1, device=dev)*2, torch.randint(0, k, (n,), device=dev))

EMB_CLASSES,_EMB_OURS = 100,{}
def cls_data_emb(n, d, dev): return lambda: (torch.randn(n, d, device=dev), torch.randint(0, EMB_CLASSES, (n,), device=dev))

def _adapt(name, f, x, t):
    "Peers' input conventions: smp's binary focal and dice, and MONAI, want a channel axis on a binary target"
    if name in ('dice_binary','binary_focal','mcc_binary','dicefocal_binary','lovasz_hinge') and x.ndim>=4: return lambda: f(x, t.unsqueeze(1))
    return lambda: f(x, t)

def fwd_bwd(fn, x):
    def step():
        x.grad = None
        fn().backward()
    return step

def time_it(step, min_time):
    step() # warm-up
    return benchmark.Timer(stmt='step()', globals={'step': step}).blocked_autorange(min_run_time=min_time).median

def peak_mem(step, x, dev):
    "Peak bytes allocated during `step` beyond what was live before it"
    x.grad = None # freed before measuring, so that the step frees nothing allocated outside the window
    if dev=='cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        step(); torch.cuda.synchronize(); return torch.cuda.max_memory_allocated()-base
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p: step()
    # every op's own allocations and frees (`[memory]` events are frees outside any op), in time order
    ev = sorted((e for e in p.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    cur = peak = 0
    for e in ev: cur += e.self_cpu_memory_usage; peak = max(peak, cur)
    return peak

def saved_bytes(fn):
    "Bytes of the tensors autograd saves for backward in one forward of `fn`, each distinct tensor counted once"
    seen = {}
    def pack(t):
        seen[(t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))] = t.numel()*t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): fn()
    return sum(seen.values())

def crossover(dev='cpu', min_time=0.2, c=37, ns=(64, 256, 1024, 4096, 16384, 65536)):
    "Time ratios closed form / autograd graph, forward+backward, by number of logits (N, `c`), both thresholds at 0"
    import fastai_losses.core as core
    fs = dict(focal=FocalLossFlat(gamma=2.), ls=LabelSmoothingCrossEntropyFlat(eps=0.1), poly=PolyLossFlat(),
              binary_focal=BinaryFocalLossFlat(), asl=AsymmetricLossFlat())
    old,lines = (core.CLOSED_FORM_MIN,core.CLOSED_FORM_MIN_CLASSES),[]
    try:
        for n in ns:
            r = {}
            for k,f in fs.items():
                x,t = (ml_data if k in ('binary_focal','asl') else cls_data)(n, c, dev)(); x.requires_grad_()
                tm = {}
                for m in (0, math.inf, 0, math.inf): # interleaved, best of two
                    core.CLOSED_FORM_MIN = core.CLOSED_FORM_MIN_CLASSES = m
                    tm[m] = min(tm.get(m, math.inf), time_it(fwd_bwd(lambda: f(x, t), x), min_time))
                r[k] = tm[0]/tm[math.inf]
            lines.append(f"| ({n}, {c}) | {n*c} | " + ' | '.join(f"{v:.2f}" for v in r.values()) + ' |')
            print(lines[-1], flush=True)
    finally: core.CLOSED_FORM_MIN,core.CLOSED_FORM_MIN_CLASSES = old
    return ['| shape | logits | ' + ' | '.join(fs) + ' |', '|---|---|' + '---|'*len(fs)] + lines

XO_HEAD = "Closed-form backward / autograd's graph"
def crossover_section(dev, dev_name, min_time):
    return ['', f"{XO_HEAD}, forward+backward time by size ({dev_name}); the losses take the closed form from "
            f"`CLOSED_FORM_MIN` = {CLOSED_FORM_MIN} logits on the CPU, and the softmax ones from `CLOSED_FORM_MIN_CLASSES` = "
            f"{CLOSED_FORM_MIN_CLASSES} classes (shown here at 37 classes, both thresholds set to 0):", ''] + crossover(dev, min_time)

def fmt(r): return '—' if r is None else f"{r:.2f}"

def profile_case(name, shape, dev='cpu', rows=12):
    "Profile one loss against the floor: the operator table shows where the time goes"
    from torch.profiler import profile, ProfilerActivity
    ours = dict((c[0], c) for c in cases(False, dev) if c[4]==shape)[name]
    x,t = ours[2](); x.requires_grad_()
    out = []
    for lbl,f in (('ours', ours[1]), ('floor', FLOORS[ours[3]])):
        step = fwd_bwd(lambda: f(x, t), x)
        for _ in range(5): step()
        with profile(activities=[ProfilerActivity.CPU]) as p:
            for _ in range(20): step()
        out.append(f"## {lbl}: {name} {shape}, 20 forward+backward passes\n" + p.key_averages().table(sort_by='self_cpu_time_total', row_limit=rows))
    return '\n'.join(out)

def device_name(dev):
    "The device in words; on the CPU `torch.utils.benchmark.Timer` times on one thread (its default)"
    if dev=='cuda': return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, timed on 1 thread)"

def steady_state(dev):
    "Run the first-call initialisations before any timing, so that the first rows are timed in the state the rest are"
    # Measured on an AMD EPYC (torch 2.14.1, MKL): `log1p`, and so `F.logsigmoid` inside the BCE floor, ran 6-10x slower
    # (1.3 ms against 0.13 ms at (4096, 37)) until a large `pow` with a fractional exponent had run once in the process;
    # in a full run the rows before the sigmoid ones happened to trigger it, in `--only` runs nothing did
    x = torch.rand(4096, 37, device=dev)
    torch.pow(x, 1.5); F.logsigmoid(x); torch.log1p(x)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help="smaller shapes and shorter timing: a smoke test in under 3 minutes")
    ap.add_argument('--rounds', type=int, default=None, help="interleaved timing rounds, best kept (default 1 quick, 2 full)")
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--out', default=None, help="markdown table to write (default: benchmarks/results[_quick][_cuda].md)")
    ap.add_argument('--crossover', action='store_true', help="add the closed-form/autograd crossover table")
    ap.add_argument('--crossover-only', action='store_true', help="recompute only the crossover table, in place in --out")
    ap.add_argument('--only', default=None, help="comma-separated loss names: run only these rows")
    ap.add_argument('--profile', default=None, metavar='LOSS', help="print the operator profile of LOSS (e.g. focal) against the floor at (4096, 37), and stop")
    a = ap.parse_args(argv)
    steady_state(a.device)
    if a.profile: print(profile_case(a.profile, '(4096, 37)', a.device)); return
    dev,min_time = a.device,(0.1 if a.quick else 0.3)
    out = Path(a.out or Path(__file__).parent/f"results{'_quick' if a.quick else ''}{'_cuda' if dev=='cuda' else ''}.md")
    a.rounds = a.rounds or (1 if a.quick else 2)
    if a.crossover_only:
        dev_name = device_name(dev)
        old = out.read_text().split(XO_HEAD)[0].rstrip('\n').splitlines()
        out.write_text('\n'.join(old + crossover_section(dev, dev_name, min_time))+'\n'); return
    torch.manual_seed(0)
    P = peers()
    rows,t0 = [],time.time()
    only = set(a.only.split(',')) if a.only else None
    for name,ours,data,family,shape in cases(a.quick, dev):
        if only and name not in only: continue
        x,t = data(); x.requires_grad_()
        others = {lib: fs[name] for lib,fs in P.items() if name in fs}
        if name=='binary_focal' and x.ndim==2: others.pop('smp', None) # smp's binary mode flattens to one class
        if family: others['floor'] = FLOORS[family]
        steps = {'ours': fwd_bwd(_adapt('ours', ours, x, t), x)}
        steps.update({lib: fwd_bwd(_adapt(name if lib!='floor' or family!='sigmoid' else 'dice_binary', f, x, t), x) for lib,f in others.items()}) # the floor's BCE wants the channel axis too
        # interleaved rounds, best of each: drift in machine load hits every implementation alike
        tm,mem = {k: math.inf for k in steps},{}
        for _ in range(a.rounds):
            for k,st in list(steps.items()):
                try: tm[k] = min(tm[k], time_it(st, min_time))
                except Exception as e:
                    print(f"  {name} {shape} vs {k}: failed ({type(e).__name__}: {str(e)[:80]})", file=sys.stderr); steps.pop(k); tm[k] = None
        for k,st in steps.items(): mem[k] = peak_mem(st, x, dev)
        sv = {k: saved_bytes(_adapt(name if k!='floor' or family!='sigmoid' else 'dice_binary', ours if k=='ours' else others[k], x, t)) for k in steps}
        for k in others:
            ok = tm.get(k) is not None
            rows.append(dict(loss=name, shape=shape, vs=k, time=tm['ours']/tm[k] if ok else None, mem=mem['ours']/max(mem[k], 1) if ok else None,
                             saved=sv['ours']/max(sv[k], 1) if ok else None, mb=sv['ours']/2**20, ms=tm['ours']*1e3))
        print(f"{name:13s} {shape:22s} ours {tm['ours']*1e3:8.2f} ms  " + '  '.join(f"{r['vs']}: {fmt(r['time'])}x/{fmt(r['saved'])}s/{fmt(r['mem'])}m" for r in rows if r['loss']==name and r['shape']==shape), flush=True)
    dev_name = device_name(dev)
    lines = [f"Ratios ours / theirs for forward+backward: time, bytes autograd saves for backward (`saved_tensors_hooks`, "
             f"machine-independent), and peak memory allocated during it; below 1 is better for us. "
             f"{'Quick mode (smaller shapes). ' if a.quick else ''}Device: {dev_name}; torch {torch.__version__}. '—': the library has no such loss or it failed on this input.", '',
             '| loss | shape | ours (ms) | ours saved (MiB) | vs | time ratio | saved ratio | peak memory ratio |',
             '|---|---|---|---|---|---|---|---|']
    lines += [f"| {r['loss']} | {r['shape']} | {r['ms']:.2f} | {r['mb']:.2f} | {r['vs']} | {fmt(r['time'])} | {fmt(r['saved'])} | {fmt(r['mem'])} |"
              for r in rows]
    if a.crossover:
        lines += crossover_section(dev, dev_name, min_time)
    out.write_text('\n'.join(lines)+'\n')
    print(f"\nwrote {out} ({len(rows)} comparisons in {time.time()-t0:.0f} s)")
    return rows

if __name__=='__main__': main()
