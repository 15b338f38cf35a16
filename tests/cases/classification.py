"Classification cases: softmax over a class axis, integer targets; weights, label smoothing, `ignore_index`, and volumes (N,C,D,H,W)"
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, N_CLS, W, cls_data, cls_ign_data, logprob_data, vol_data, vol1_data, vol_logprob_data

case = family_case('classification')

def p_t(x, t): return F.softmax(x, 1).gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1) # class axis 1, any rank
def weight_den(x, t): return W[t].sum() # a weighted mean's denominator
def kept(x, t): return (t!=-100).sum()  # the mean over targets not ignored

def ce_ref(x, t):        return F.cross_entropy(x, t, reduction='none')
def ce_weight_ref(x, t): return F.cross_entropy(x, t, weight=W, reduction='none')
def focal_ref(x, t):     return -(1-p_t(x,t))**2*torch.log(p_t(x,t))
def focal_alpha_weight_ls_ref(x, t):
    "alpha per class times the focusing term, on fastai's p_t from the weighted, smoothed cross-entropy"
    return W.flip(0)[t]*(1-p_t(x,t))**1.5*F.cross_entropy(x, t, weight=W, label_smoothing=0.1, reduction='none')
def ls_torch_ref(x, t):  return F.cross_entropy(x, t, label_smoothing=0.1, reduction='none')
def poly_ref(x, t):      return -torch.log(p_t(x,t)) + (1-p_t(x,t))
def nll_ref(x, t):       return -x.gather(1, t[:,None])[:,0]
def ls_ref(x, t, eps=0.1):
    "Label smoothing written out, 0 where ignored"
    logp = F.log_softmax(x, 1); c = x.shape[1]
    l = -(1-eps)*logp.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1) - eps/c*logp.sum(1)
    return torch.where(t!=-100, l, 0)
def focal_gamma05_ignore_ref(x, t): return torch.where(t!=-100, -(1-p_t(x,t))**0.5*torch.log(p_t(x,t)), 0)
def ce_vol_n1_ref(x, t):   return F.cross_entropy(x, t[:,0], reduction='none')
def nll_vol_ref(x, t):     return -x.gather(1, t.unsqueeze(1)).squeeze(1)
def asl_single_ref(x, t):
    from timm.loss import AsymmetricLossSingleLabel
    return AsymmetricLossSingleLabel(reduction='none')(x, t)
def asl_single_ignore_ref(x, t): return torch.where(t!=-100, asl_single_ref(x, t.clamp_min(0)), 0)
# noisy labels: each paper's formula written out
def gce_ref(x, t, q=0.7):  return (1-p_t(x,t)**q)/q                                        # Zhang & Sabuncu 2018, eq. 6
def sce_ref(x, t, a=0.1, b=1., A=-4.):                                                        # Wang et al. 2019, eqs. 4-5
    p = F.softmax(x, 1); logq = torch.where(F.one_hot(t, x.shape[1]).bool(), 0., A)         # log of the one-hot label, log 0 -> A
    return -a*torch.log(p_t(x,t)) - b*(p*logq).sum(1)
def boot_ref(x, t, beta=0.95, hard=False):                                                     # Reed et al. 2015, eqs. 6-7
    p = F.softmax(x, 1); own = F.one_hot(p.argmax(1), x.shape[1]).to(x.dtype) if hard else p
    return -((beta*F.one_hot(t, x.shape[1]) + (1-beta)*own)*torch.log(p)).sum(1)
def boot_hard_ref(x, t): return boot_ref(x, t, beta=0.8, hard=True)
def gce_ignore_ref(x, t): return torch.where(t!=-100, gce_ref(x, t.clamp_min(0)), 0)
# long tails: cross-entropy on logits shifted by tau*log(pi), and the balanced softmax, written out
COUNTS = torch.tensor([500., 200., 50., 20., 5.], dtype=torch.float64)
def la_ref(x, t, tau=1.5):
    z = x + tau*torch.log(COUNTS/COUNTS.sum())
    return -(z.gather(1, t[:,None])[:,0] - torch.logsumexp(z, 1))
def balanced_softmax_ref(x, t): e = COUNTS*torch.exp(x); return -torch.log(e.gather(1, t[:,None])[:,0]/e.sum(1))

def multi_margin_ref(x, t, p=1, m=1.): # Weston & Watkins 1999 as torch writes it: the mean over j != y of [m - x_y + x_j]_+^p
    xy = x.gather(1, t[:,None]); h = F.relu(m-xy+x)**p
    return (h.sum(1)-h.gather(1, t[:,None])[:,0])/x.shape[1]
def multi_margin_p2_ref(x, t): return multi_margin_ref(x, t, 2, 0.5)

CASES = [
    case('CrossEntropyLossFlat', lambda: CrossEntropyLossFlat(),    cls_data, ce_ref, 'cls', n_out=N_CLS),
    case('CrossEntropyLossFlat-weight', lambda: CrossEntropyLossFlat(weight=W.float()), cls_data, ce_weight_ref, 'cls', mean_den=weight_den, n_out=N_CLS),
    case('FocalLossFlat',      lambda: FocalLossFlat(gamma=2.),     cls_data, focal_ref, 'cls', n_out=N_CLS),
    case('FocalLossFlat-alpha-weight-ls', lambda: FocalLossFlat(gamma=1.5, alpha=W.flip(0).float(), weight=W.float(), label_smoothing=0.1), cls_data,
         focal_alpha_weight_ls_ref, 'cls', mean_den=weight_den, n_out=N_CLS),
    case('LabelSmoothingCrossEntropyFlat', lambda: LabelSmoothingCrossEntropyFlat(eps=0.1), cls_data, ls_torch_ref, 'cls', n_out=N_CLS),
    case('PolyLossFlat',       lambda: PolyLossFlat(epsilon=1.),    cls_data, poly_ref, 'cls', n_out=N_CLS),
    case('MultiMarginLossFlat', lambda: MultiMarginLossFlat(),     cls_data, multi_margin_ref, 'cls', n_out=N_CLS),
    case('MultiMarginLossFlat-p2', lambda: MultiMarginLossFlat(p=2, margin=0.5), cls_data, multi_margin_p2_ref, 'cls', n_out=N_CLS),
    case('NLLLossFlat',        lambda: NLLLossFlat(),               logprob_data, nll_ref, 'cls', n_out=N_CLS, tail=lambda: torch.nn.LogSoftmax(-1)),
    # partly ignored targets, and focusing parameters below 1 (NaN gradients in peers)
    case('CrossEntropyLossFlat-ignore', lambda: CrossEntropyLossFlat(), cls_ign_data, ce_ref, 'cls', mean_den=kept, n_out=N_CLS),
    case('LabelSmoothingCrossEntropyFlat-ignore', lambda: LabelSmoothingCrossEntropyFlat(eps=0.1), cls_ign_data, ls_ref, 'cls', mean_den=kept, n_out=N_CLS),
    case('FocalLossFlat-gamma0.5-ignore', lambda: FocalLossFlat(gamma=0.5), cls_ign_data, focal_gamma05_ignore_ref, 'cls', mean_den=kept, n_out=N_CLS),
    # volumes (N,C,D,H,W) with the class axis at 1
    case('CrossEntropyLossFlat-vol', lambda: CrossEntropyLossFlat(axis=1), vol_data, ce_ref, 'cls', n_out=3, spatial=3),
    case('CrossEntropyLossFlat-vol-N1', lambda: CrossEntropyLossFlat(axis=1), vol1_data, ce_vol_n1_ref, 'cls', n_out=3, spatial=3),
    case('FocalLossFlat-vol', lambda: FocalLossFlat(axis=1), vol_data, focal_ref, 'cls', n_out=3, spatial=3),
    case('LabelSmoothingCrossEntropyFlat-vol', lambda: LabelSmoothingCrossEntropyFlat(axis=1), vol_data, ls_ref, 'cls', n_out=3, spatial=3),
    case('PolyLossFlat-vol', lambda: PolyLossFlat(axis=1), vol_data, poly_ref, 'cls', n_out=3, spatial=3),
    case('NLLLossFlat-vol', lambda: NLLLossFlat(axis=1), vol_logprob_data, nll_vol_ref, 'cls', n_out=3, spatial=3, tail=lambda: torch.nn.LogSoftmax(1)),
    case('AsymmetricSingleLabelLossFlat', lambda: AsymmetricSingleLabelLossFlat(), cls_data, asl_single_ref, 'cls', n_out=N_CLS),
    case('AsymmetricSingleLabelLossFlat-ignore', lambda: AsymmetricSingleLabelLossFlat(), cls_ign_data, asl_single_ignore_ref, 'cls', mean_den=kept,
         n_out=N_CLS),
    case('GCELossFlat',        lambda: GCELossFlat(q=0.7),          cls_data, gce_ref, 'cls', n_out=N_CLS),
    case('GCELossFlat-ignore', lambda: GCELossFlat(q=0.7),          cls_ign_data, gce_ignore_ref, 'cls', mean_den=kept, n_out=N_CLS),
    case('SCELossFlat',        lambda: SCELossFlat(alpha=0.1, beta=1.), cls_data, sce_ref, 'cls', n_out=N_CLS),
    case('BootstrappedCELossFlat', lambda: BootstrappedCELossFlat(beta=0.95), cls_data, boot_ref, 'cls', n_out=N_CLS),
    case('BootstrappedCELossFlat-hard', lambda: BootstrappedCELossFlat(beta=0.8, hard=True), cls_data, boot_hard_ref, 'cls', n_out=N_CLS),
    case('LogitAdjustedLossFlat', lambda: LogitAdjustedLossFlat(class_counts=COUNTS.float(), tau=1.5), cls_data, la_ref, 'cls', n_out=N_CLS),
    case('BalancedSoftmaxLossFlat', lambda: BalancedSoftmaxLossFlat(class_counts=COUNTS.float()), cls_data, balanced_softmax_ref, 'cls', n_out=N_CLS),
]

# ordered classes: K-1 = 4 logits for 5 ranks; per item, the papers' sums written out (CORN: over the tasks it is in)
def ord_data(n, dt, g): return torch.randn(n, N_CLS-1, dtype=dt, generator=g)*2, torch.randint(0, N_CLS, (n,), generator=g)
def coral_ref(x, t):
    lv = (t[:,None]>torch.arange(N_CLS-1)).to(x.dtype)
    return -(lv*F.logsigmoid(x) + (1-lv)*F.logsigmoid(-x)).sum(1)
def corn_ref(x, t):
    k = torch.arange(N_CLS-1); on = (t[:,None]>=k).to(x.dtype); lv = (t[:,None]>k).to(x.dtype)
    return -((lv*F.logsigmoid(x) + (1-lv)*F.logsigmoid(-x))*on).sum(1)
def n_corn(x, t): return (t[:,None]>=torch.arange(N_CLS-1)).sum()
CASES += [
    case('CORALLossFlat', lambda: CORALLossFlat(), ord_data, coral_ref, 'ord', n_out=N_CLS-1),
    case('CORNLossFlat', lambda: CORNLossFlat(), ord_data, corn_ref, 'ord', mean_den=n_corn, n_out=N_CLS-1),
]
