"`CombinedLoss` cases (`0.5*CrossEntropyLossFlat(axis=1) + 0.5*DiceLossFlat()`): the weighted sum of the terms' references"
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, N_CLS, cls_data, seg_data, vol_data
from .classification import p_t, ls_torch_ref
from .segmentation import overlap_refs, dice

case = family_case('combination')

DICE = overlap_refs(dice)
def ce_dice_ref(x, t):      return 0.5*F.cross_entropy(x, t, reduction='none').flatten(1).mean(1) + 0.5*DICE['ref'](x, t)
def ce_dice_mean_ref(x, t): return 0.5*F.cross_entropy(x, t) + 0.5*DICE['ref_mean'](x, t)
def ce_dice_sum_ref(x, t):  # each term's own 'sum': CE sums over pixels, Dice is N times its 'mean'
    return 0.5*F.cross_entropy(x, t, reduction='sum') + 0.5*DICE['ref_mean'](x, t)*x.shape[0]
def focal_ls_ref(x, t):     return 0.7*(1-p_t(x,t))**2*-torch.log(p_t(x,t)) + 0.3*ls_torch_ref(x, t)

CASES = [
    case('CombinedLoss-ce+dice', lambda: 0.5*CrossEntropyLossFlat(axis=1) + 0.5*DiceLossFlat(), seg_data, ce_dice_ref, 'seg', n_out=3,
         ref_mean=ce_dice_mean_ref, ref_sum=ce_dice_sum_ref),
    case('CombinedLoss-focal+ls', lambda: 0.7*FocalLossFlat() + 0.3*LabelSmoothingCrossEntropyFlat(), cls_data, focal_ls_ref, 'cls', n_out=N_CLS),
    case('CombinedLoss-ce+dice-vol', lambda: 0.5*CrossEntropyLossFlat(axis=1) + 0.5*DiceLossFlat(), vol_data, ce_dice_ref, 'seg', n_out=3, spatial=3,
         ref_mean=ce_dice_mean_ref, ref_sum=ce_dice_sum_ref),
]

# learned weights (Kendall et al. 2018, eq. 7), at s = log σ² = (0.3, -0.2): Σ exp(-s_i)·L_i + s_i, s_i added per item under 'none'
S_UNC = (0.3, -0.2)
def _uncertainty():
    lf = CombinedLoss(FocalLossFlat(), LabelSmoothingCrossEntropyFlat(), weights='uncertainty')
    with torch.no_grad(): lf.log_vars.copy_(torch.tensor(S_UNC))
    return lf
def _unc_terms(x, t): return (1-p_t(x,t))**2*-torch.log(p_t(x,t)), ls_torch_ref(x, t)
# the learned s_i are float32 parameters (they stay float32 whatever the input): their exp is taken in float32
_S = torch.tensor(S_UNC); _W,_S = torch.exp(-_S).tolist(),_S.tolist()
def unc_ref(x, t):     a,b = _unc_terms(x, t); return _W[0]*a + _S[0] + _W[1]*b + _S[1]
def unc_sum_ref(x, t): a,b = _unc_terms(x, t); return _W[0]*a.sum() + _S[0] + _W[1]*b.sum() + _S[1]
CASES.append(case('CombinedLoss-focal+ls-uncertainty', _uncertainty, cls_data, unc_ref, 'cls', n_out=N_CLS, nonneg=False,
                  ref_mean=lambda x, t: unc_ref(x, t).mean(), ref_sum=unc_sum_ref))
