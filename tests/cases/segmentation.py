"""Segmentation cases: masks of 5x5 pixels and volumes of 2x3x3; 'none' is one value per image, 'mean' scores the batch as one volume.
References: the one-hot sums written out per image (N,C), and the Lovász authors' algorithm"""
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import (family_case, W, seg_data, segb_data, segml_data, seg_ign_data, segb_soft_data, segml_soft_data,
                   vol_data, volb_data, volml_data)

case = family_case('segmentation')

def overlap_sums(x, t, mode, ignore=None, square=False):
    "I, P, T per image and class; a soft target's intersection is Σmin(p,t) (Σp·t against squared sums), which is Σp·t for 0/1 masks"
    keep = torch.ones_like(t, dtype=torch.bool) if ignore is None else t!=ignore
    if mode=='multiclass': p,oh = F.softmax(x, 1),F.one_hot(torch.where(keep, t, 0), x.shape[1]).movedim(-1, 1).to(x.dtype)
    else: p,oh = torch.sigmoid(x),(t.unsqueeze(1) if t.ndim<x.ndim else t).to(x.dtype)
    k = (keep.unsqueeze(1) if keep.ndim<x.ndim else keep).to(x.dtype)
    p,oh = p*k,oh*k
    dims = tuple(range(2, x.ndim))
    if square: return (p*oh).sum(dims),(p*p).sum(dims),(oh*oh).sum(dims)
    return torch.minimum(p, oh).sum(dims),p.sum(dims),oh.sum(dims)
def dice(I, P, T, s=1.): return 1-(2*I+s)/(P+T+s)
def tversky(a, b, g=1., s=1.):
    "The Tversky loss with weights `a`, `b` on false positives and negatives, to the power `g`; Jaccard is a=b=1"
    def score(I, P, T): return (1-(I+s)/(I+a*(P-I)+b*(T-I)+s))**g
    return score
def overlap_refs(score, mode='multiclass', **kw):
    "A case's `ref` (per image, averaged over classes) and `ref_mean` (the batch scored as one volume) for an overlap `score`"
    def per_image(x, t):  return score(*overlap_sums(x, t, mode, **kw)).mean(1)
    def one_volume(x, t): return score(*(v.sum(0) for v in overlap_sums(x, t, mode, **kw))).mean()
    return dict(ref=per_image, ref_mean=one_volume)
def dice_per_image_square_weight_ref(x, t):
    "Squared probabilities in the union, classes weighted by W[:3]"
    I,P,T = overlap_sums(x, t, 'multiclass')
    return (dice(I, (F.softmax(x, 1)**2).sum((2,3)), T)*W[:3]).sum(1)/W[:3].sum()

def lovasz(p, t):
    "The authors' algorithm, one class at a time: p (C,P) probabilities, t (P,)"
    ls = []
    for c in range(p.shape[0]):
        fg = (t==c).to(p.dtype)
        if fg.sum()==0: continue
        err_s,perm = torch.sort((fg-p[c]).abs(), descending=True)
        fg_s = fg[perm]; gts = fg_s.sum()
        jac = 1-(gts-fg_s.cumsum(0))/(gts+(1-fg_s).cumsum(0))
        ls.append((err_s*torch.cat([jac[:1], jac[1:]-jac[:-1]])).sum())
    return torch.stack(ls).mean()
def lovasz_ref(x, t, ignore=None):
    "Per image"
    out = []
    for i in range(len(t)):
        p,ti = F.softmax(x[i], 0).flatten(1),t[i].flatten(); k = ti!=(-1 if ignore is None else ignore)
        out.append(lovasz(p[:,k], ti[k]) if k.any() else x.new_zeros(()))
    return torch.stack(out)
def lovasz_mean_ref(x, t, ignore=None):
    "The batch as one volume"
    p,tf = F.softmax(x, 1).transpose(0, 1).flatten(1),t.flatten(); k = tf!=(-1 if ignore is None else ignore)
    return lovasz(p[:,k], tf[k])
def lovasz_ignore_ref(x, t):      return lovasz_ref(x, t, 255)
def lovasz_ignore_mean_ref(x, t): return lovasz_mean_ref(x, t, 255)

CASES = [
    case('DiceLossFlat',       lambda: DiceLossFlat(),              seg_data, kind='seg', n_out=3, **overlap_refs(dice)),
    case('DiceLossFlat-per_image-square-weight', lambda: DiceLossFlat(per_image=True, square_in_union=True, weight=W[:3].float()), seg_data,
         dice_per_image_square_weight_ref, 'seg', n_out=3),
    case('DiceLossFlat-binary', lambda: DiceLossFlat(mode='binary'), segb_data, kind='segb', n_out=1, **overlap_refs(dice, 'binary')),
    case('DiceLossFlat-multilabel', lambda: DiceLossFlat(mode='multilabel'), segml_data, kind='segml', n_out=3, **overlap_refs(dice, 'multilabel')),
    case('JaccardLossFlat',    lambda: JaccardLossFlat(),           seg_data, kind='seg', n_out=3, **overlap_refs(tversky(1., 1.))),
    case('TverskyLossFlat',    lambda: TverskyLossFlat(alpha=0.7, beta=0.3), seg_data, kind='seg', n_out=3, **overlap_refs(tversky(0.7, 0.3))),
    case('FocalTverskyLossFlat', lambda: FocalTverskyLossFlat(),    seg_data, kind='seg', n_out=3, **overlap_refs(tversky(0.7, 0.3, 0.75))),
    case('LovaszSoftmaxLossFlat', lambda: LovaszSoftmaxLossFlat(),  seg_data, lovasz_ref, 'seg', n_out=3, ref_mean=lovasz_mean_ref),
    # partly ignored pixels
    case('DiceLossFlat-ignore', lambda: DiceLossFlat(ignore_index=255), seg_ign_data, kind='seg', n_out=3, **overlap_refs(dice, ignore=255)),
    case('LovaszSoftmaxLossFlat-ignore', lambda: LovaszSoftmaxLossFlat(ignore_index=255), seg_ign_data, lovasz_ignore_ref, 'seg', n_out=3,
         ref_mean=lovasz_ignore_mean_ref),
    # soft masks: the minimum sits at p=t (MONAI#8094)
    case('DiceLossFlat-binary-soft', lambda: DiceLossFlat(mode='binary'), segb_soft_data, kind='segb', n_out=1, soft=True,
         **overlap_refs(dice, 'binary')),
    case('DiceLossFlat-multilabel-soft-square', lambda: DiceLossFlat(mode='multilabel', square_in_union=True), segml_soft_data, kind='segml',
         n_out=3, soft=True, **overlap_refs(dice, 'multilabel', square=True)),
    case('JaccardLossFlat-multilabel-soft', lambda: JaccardLossFlat(mode='multilabel'), segml_soft_data, kind='segml', n_out=3, soft=True,
         **overlap_refs(tversky(1., 1.), 'multilabel')),
    case('FocalTverskyLossFlat-binary-soft', lambda: FocalTverskyLossFlat(mode='binary'), segb_soft_data, kind='segb', n_out=1, soft=True,
         **overlap_refs(tversky(0.7, 0.3, 0.75), 'binary')),
    # volumes (N,C,D,H,W) with the class axis at 1
    case('DiceLossFlat-vol', lambda: DiceLossFlat(), vol_data, kind='seg', n_out=3, spatial=3, **overlap_refs(dice)),
    case('DiceLossFlat-binary-vol', lambda: DiceLossFlat(mode='binary'), volb_data, kind='segb', n_out=1, spatial=3, **overlap_refs(dice, 'binary')),
    case('DiceLossFlat-multilabel-vol', lambda: DiceLossFlat(mode='multilabel'), volml_data, kind='segml', n_out=3, spatial=3,
         **overlap_refs(dice, 'multilabel')),
    case('JaccardLossFlat-vol', lambda: JaccardLossFlat(), vol_data, kind='seg', n_out=3, spatial=3, **overlap_refs(tversky(1., 1.))),
    case('TverskyLossFlat-vol', lambda: TverskyLossFlat(alpha=0.7, beta=0.3), vol_data, kind='seg', n_out=3, spatial=3,
         **overlap_refs(tversky(0.7, 0.3))),
    case('FocalTverskyLossFlat-vol', lambda: FocalTverskyLossFlat(), vol_data, kind='seg', n_out=3, spatial=3, **overlap_refs(tversky(0.7, 0.3, 0.75))),
    case('LovaszSoftmaxLossFlat-vol', lambda: LovaszSoftmaxLossFlat(), vol_data, lovasz_ref, 'seg', n_out=3, spatial=3, ref_mean=lovasz_mean_ref),
]

# Issue 26: log Dice/Jaccard, Generalized Dice, MCC, Dice+CE, Dice+focal, Lovász hinge
def seg_ign_vol(n, dt, g): # volumes, some voxels at 255
    x,t = vol_data(n, dt, g); return x, torch.where(torch.rand(t.shape, generator=g)<0.3, 255, t)
def segb_ign_data(n, dt, g): # binary masks, some pixels at 255
    x,t = segb_data(n, dt, g); return x, torch.where(torch.rand(t.shape, generator=g)<0.3, 255, t)
def log_of(score):
    "-log of the overlap score that `score` (a loss 1-score) takes"
    def f(I, P, T): return -torch.log(1-score(I, P, T))
    return f
def gdl(s=1e-5):
    "Sudre et al.'s weights 1/T² per class; an absent class takes the largest weight of the present ones (MONAI)"
    def score(I, P, T):
        w = torch.stack([torch.where(Tc>0, 1/Tc.clamp_min(1e-12)**2, 0.) for Tc in T.unbind(-1)], -1)
        w = torch.where(T>0, w, w.max(-1, keepdim=True).values)
        return (1-(2*(w*I).sum(-1)+s)/((w*(P+T)).sum(-1)+s)).unsqueeze(-1) # overlap_refs averages the last axis
    return score
def mcc_sums(x, t, mode, ignore=None):
    "I, P, T and the kept pixel count K per image and class"
    I,P,T = overlap_sums(x, t, mode, ignore)
    keep = torch.ones_like(t, dtype=torch.bool) if ignore is None else t!=ignore
    K = keep.flatten(1 if mode=='multiclass' or t.ndim<x.ndim else 2).sum(-1).to(x.dtype)
    return I,P,T,(K.unsqueeze(-1) if K.ndim==1 else K).expand_as(I)
def mcc(I, P, T, K, e=1e-5):
    tp,fp,fn,tn = I+e,P-I+e,T-I+e,K-P-T+I+e
    return (1-(tp*tn-fp*fn)/torch.sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn)))*(K>0) # no kept pixel: 0
def mcc_refs(mode='multiclass', ignore=None):
    def per_image(x, t):  return mcc(*mcc_sums(x, t, mode, ignore)).mean(1)
    def one_volume(x, t): return mcc(*(v.sum(0) for v in mcc_sums(x, t, mode, ignore))).mean()
    return dict(ref=per_image, ref_mean=one_volume)
def pixel_ce(x, t, mode, gamma=0., ignore=None):
    "Per pixel: softmax cross-entropy (or focal) in 'multiclass' mode, sigmoid otherwise; kept mask"
    keep = torch.ones_like(t, dtype=torch.bool) if ignore is None else t!=ignore
    if mode=='multiclass':
        lp = F.log_softmax(x, 1).gather(1, torch.where(keep, t, 0).unsqueeze(1)).squeeze(1)
        l = -(1-lp.exp())**gamma*lp
    else:
        t = (t.unsqueeze(1) if t.ndim<x.ndim else t).to(x.dtype); keep = keep if keep.ndim==x.ndim else keep.unsqueeze(1)
        t = torch.where(keep, t, 0.)
        p = torch.sigmoid(x); pt = p*t+(1-p)*(1-t)
        l = -(1-pt)**gamma*(t*F.logsigmoid(x)+(1-t)*F.logsigmoid(-x))
    return l*keep,keep.to(x.dtype)
def dice_plus_refs(mode='multiclass', gamma=0., ignore=None, lam=(1., 1.)):
    d = overlap_refs(dice, mode, ignore=ignore)
    def per_image(x, t):
        l,k = pixel_ce(x, t, mode, gamma, ignore); return lam[0]*d['ref'](x, t) + lam[1]*l.flatten(1).sum(1)/k.flatten(1).sum(1)
    def mean(x, t):
        l,k = pixel_ce(x, t, mode, gamma, ignore); return lam[0]*d['ref_mean'](x, t) + lam[1]*l.sum()/k.sum()
    def sum_(x, t): return lam[0]*d['ref_mean'](x, t)*x.shape[0] + lam[1]*pixel_ce(x, t, mode, gamma, ignore)[0].sum()
    return dict(ref=per_image, ref_mean=mean, ref_sum=sum_)
def hinge_lovasz(x, fg):
    "The authors' binary algorithm: x (P,) logits, fg (P,) 0/1"
    err_s,perm = torch.sort(1-x*(2*fg-1), descending=True)
    fg_s = fg[perm]; gts = fg_s.sum()
    jac = 1-(gts-fg_s.cumsum(0))/(gts+(1-fg_s).cumsum(0))
    return (F.relu(err_s)*torch.cat([jac[:1], jac[1:]-jac[:-1]])).sum()
def hinge_groups(x, t, ignore):
    "Per image and channel: (logits, fg) of the kept pixels"
    t = t.unsqueeze(1) if t.ndim<x.ndim else t
    return [[(x[i,c].flatten()[k], t[i,c].flatten()[k].to(x.dtype)) for c in range(x.shape[1])
             for k in [t[i,c].flatten()!=(-1 if ignore is None else ignore)]] for i in range(len(x))]
def lovasz_hinge_refs(ignore=None, per_image=False):
    def per(x, t): return torch.stack([torch.stack([hinge_lovasz(*g) for g in gs]).mean() for gs in hinge_groups(x, t, ignore)])
    def one_volume(x, t):
        gs = hinge_groups(x, t, ignore)
        return torch.stack([hinge_lovasz(torch.cat([g[c][0] for g in gs]), torch.cat([g[c][1] for g in gs])) for c in range(x.shape[1])]).mean()
    return dict(ref=per, ref_mean=None if per_image else one_volume)

def segml_ign_data(n, dt, g): # multi-label masks, some pixels at 255
    x,t = segml_data(n, dt, g); return x, torch.where(torch.rand(t.shape, generator=g)<0.3, 255., t)
def pixel_refs(mode, gamma=0., ignore=None):
    def per(x, t):  l,k = pixel_ce(x, t, mode, gamma, ignore); return l.flatten(1).sum(1)/k.flatten(1).sum(1).clamp_min(1)
    def mean(x, t): l,k = pixel_ce(x, t, mode, gamma, ignore); return l.sum()/k.sum()
    def sum_(x, t): return pixel_ce(x, t, mode, gamma, ignore)[0].sum()
    return dict(ref=per, ref_mean=mean, ref_sum=sum_)

import numpy as np
from scipy.ndimage import distance_transform_edt as edt
def maps(x, t, mode, ignore, bg):
    "Probabilities and 0/1 masks (N,K,...) in float64, background dropped unless `bg`, and the kept pixels (N,1|K,...)"
    keep = torch.ones_like(t, dtype=torch.bool) if ignore is None else t!=ignore
    if mode=='multiclass':
        p,oh = F.softmax(x, 1),F.one_hot(torch.where(keep, t, 0), x.shape[1]).movedim(-1, 1).to(x.dtype)
        keep = keep.unsqueeze(1)
        if not bg: p,oh = p[:,1:],oh[:,1:]
    else:
        t,keep = (t.unsqueeze(1), keep.unsqueeze(1)) if t.ndim<x.ndim else (t, keep)
        p,oh = torch.sigmoid(x),torch.where(keep, t, 0).to(x.dtype)
    return p,oh,keep.to(x.dtype)
def kervadec_sdm(m): # the authors' `one_hot2dist` per mask, with an empty or full mask at 0
    if not m.any() or m.all(): return np.zeros(m.shape)
    return edt(~m)*~m - (edt(m)-1)*m
def field(m): # MONAI's `distance_field` per mask
    return edt(m)+edt(~m) if m.any() and not m.all() else np.zeros(m.shape)
def per_mask(fn, m): return torch.tensor(np.stack([fn(a) for a in m.reshape(-1, *m.shape[2:])]).reshape(m.shape))
def dist_refs(kind, mode='multiclass', ignore=None, bg=False):
    def terms(x, t):
        p,oh,k = maps(x, t, mode, ignore, bg)
        m = oh.detach().numpy().astype(bool)
        if kind=='boundary': v = p*per_mask(kervadec_sdm, m)
        else: v = (p-oh)**2*(per_mask(field, (p>0.5).detach().numpy())**2+per_mask(field, m)**2)
        return v*k,k.expand_as(v)
    def per(x, t):  v,k = terms(x, t); return v.flatten(1).sum(1)/k.flatten(1).sum(1)
    def mean(x, t): v,k = terms(x, t); return v.sum()/k.sum()
    return dict(ref=per, ref_mean=mean)
def cldice_refs(mode='multiclass', alpha=1., per_image=False, s=1.):
    from monai.losses.cldice import soft_skel # the peer's skeleton (Shit et al.'s code)
    def sums(x, t):
        p,oh,_ = maps(x, t, mode, None, False)
        sp,st = soft_skel(p, 3),soft_skel(oh, 3)
        return [v.flatten(1).sum(1) for v in (sp*oh, sp, st*p, st)],[v.flatten(2).sum(2) for v in (p*oh, p, oh)]
    def score(a, b, c, d, I, P, T):
        pr,se = (a+s)/(b+s),(c+s)/(d+s)
        return alpha*(1-2*pr*se/(pr+se)) + (1-alpha)*dice(I, P, T, s).mean(-1)
    def per(x, t):  cl,ov = sums(x, t); return score(*cl, *ov)
    def mean(x, t): cl,ov = sums(x, t); return score(*(v.sum(0) for v in cl), *(v.sum(0) for v in ov))
    return dict(ref=per, ref_mean=None if per_image else mean)

CASES += [
    case('DiceLossFlat-log', lambda: DiceLossFlat(log_loss=True), seg_data, kind='seg', n_out=3, **overlap_refs(log_of(dice))),
    case('JaccardLossFlat-log-binary', lambda: JaccardLossFlat(log_loss=True, mode='binary'), segb_data, kind='segb', n_out=1,
         **overlap_refs(log_of(tversky(1., 1.)), 'binary')),
    case('GeneralizedDiceLossFlat', lambda: GeneralizedDiceLossFlat(), seg_data, kind='seg', n_out=3, **overlap_refs(gdl())),
    case('GeneralizedDiceLossFlat-binary', lambda: GeneralizedDiceLossFlat(mode='binary'), segb_data, kind='segb', n_out=1,
         **overlap_refs(gdl(), 'binary')),
    case('GeneralizedDiceLossFlat-multilabel-vol', lambda: GeneralizedDiceLossFlat(mode='multilabel'), volml_data, kind='segml', n_out=3,
         spatial=3, **overlap_refs(gdl(), 'multilabel')),
    case('GeneralizedDiceLossFlat-ignore', lambda: GeneralizedDiceLossFlat(ignore_index=255), seg_ign_data, kind='seg', n_out=3,
         **overlap_refs(gdl(), ignore=255)),
    case('MCCLossFlat', lambda: MCCLossFlat(), seg_data, kind='seg', n_out=3, **mcc_refs()),
    case('MCCLossFlat-binary', lambda: MCCLossFlat(mode='binary'), segb_data, kind='segb', n_out=1, **mcc_refs('binary')),
    case('MCCLossFlat-multilabel-vol', lambda: MCCLossFlat(mode='multilabel'), volml_data, kind='segml', n_out=3, spatial=3,
         **mcc_refs('multilabel')),
    case('MCCLossFlat-ignore', lambda: MCCLossFlat(ignore_index=255), seg_ign_data, kind='seg', n_out=3, **mcc_refs(ignore=255)),
    case('DiceCELossFlat', lambda: DiceCELossFlat(), seg_data, kind='seg', n_out=3, **dice_plus_refs()),
    case('DiceCELossFlat-binary-weights', lambda: DiceCELossFlat(mode='binary', lambda_dice=0.7, lambda_ce=0.3), segb_data, kind='segb',
         n_out=1, **dice_plus_refs('binary', lam=(0.7, 0.3))),
    case('DiceCELossFlat-ignore-vol', lambda: DiceCELossFlat(ignore_index=255), seg_ign_vol, kind='seg', n_out=3,
         spatial=3, **dice_plus_refs(ignore=255)),
    case('DiceFocalLossFlat', lambda: DiceFocalLossFlat(), seg_data, kind='seg', n_out=3, **dice_plus_refs(gamma=2.)),
    case('DiceFocalLossFlat-multilabel', lambda: DiceFocalLossFlat(mode='multilabel'), segml_data, kind='segml', n_out=3,
         **dice_plus_refs('multilabel', gamma=2.)),
    case('LovaszHingeLossFlat', lambda: LovaszHingeLossFlat(), segb_data, kind='segb', n_out=1, **lovasz_hinge_refs()),
    case('LovaszHingeLossFlat-per_image', lambda: LovaszHingeLossFlat(per_image=True), segb_data, kind='segb', n_out=1,
         **lovasz_hinge_refs(per_image=True)),
    case('LovaszHingeLossFlat-multilabel-vol', lambda: LovaszHingeLossFlat(mode='multilabel'), volml_data, kind='segml', n_out=3, spatial=3,
         **lovasz_hinge_refs()),
    case('LovaszHingeLossFlat-ignore', lambda: LovaszHingeLossFlat(ignore_index=255), segb_ign_data, kind='segb', n_out=1,
         **lovasz_hinge_refs(255)),
    # DeepSupervisionLoss wraps a loss of the registry: tests/test_seg_peers.py checks it on lists of outputs against MONAI
    case('PixelCrossEntropyFlat', lambda: PixelCrossEntropyFlat(), seg_data, kind='seg', n_out=3, **pixel_refs('multiclass')),
    case('PixelCrossEntropyFlat-focal-multilabel-ignore', lambda: PixelCrossEntropyFlat(gamma=2., mode='multilabel', ignore_index=255),
         segml_ign_data, kind='segml', n_out=3, **pixel_refs('multilabel', 2., 255)),
    case('BoundaryLossFlat', lambda: BoundaryLossFlat(), seg_data, kind='seg', n_out=3, nonneg=False, **dist_refs('boundary')),
    case('BoundaryLossFlat-binary-ignore', lambda: BoundaryLossFlat(mode='binary', ignore_index=255), segb_ign_data, kind='segb', n_out=1,
         nonneg=False, **dist_refs('boundary', 'binary', ignore=255)),
    case('BoundaryLossFlat-multilabel-vol', lambda: BoundaryLossFlat(mode='multilabel'), volml_data, kind='segml', n_out=3, spatial=3,
         nonneg=False, **dist_refs('boundary', 'multilabel')),
    case('HausdorffDTLossFlat', lambda: HausdorffDTLossFlat(), seg_data, kind='seg', n_out=3, **dist_refs('hausdorff')),
    case('HausdorffDTLossFlat-vol-background', lambda: HausdorffDTLossFlat(include_background=True), vol_data, kind='seg', n_out=3, spatial=3,
         **dist_refs('hausdorff', bg=True)),
    case('HausdorffDTLossFlat-binary-ignore', lambda: HausdorffDTLossFlat(mode='binary', ignore_index=255), segb_ign_data, kind='segb',
         n_out=1, **dist_refs('hausdorff', 'binary', ignore=255)),
    case('ClDiceLossFlat', lambda: ClDiceLossFlat(), seg_data, kind='seg', n_out=3, **cldice_refs()),
    case('ClDiceLossFlat-binary-vol-alpha', lambda: ClDiceLossFlat(mode='binary', alpha=0.5), volb_data, kind='segb', n_out=1, spatial=3,
         **cldice_refs('binary', alpha=0.5)),
    case('ClDiceLossFlat-multilabel-per_image', lambda: ClDiceLossFlat(mode='multilabel', per_image=True), segml_data, kind='segml', n_out=3,
         **cldice_refs('multilabel', per_image=True)),
]

