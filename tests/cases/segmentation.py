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
