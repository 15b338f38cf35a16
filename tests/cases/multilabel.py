"Binary and multi-label cases: one sigmoid per logit and a 0/1 target per logit; per-class `pos_weight`, and volumes (N,C,D,H,W)"
import torch, torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss
from fastai_losses.all import *
from .core import family_case, N_CLS, W, ml_data, volml_data, ml_ign_data, ml_nan_data, pm1

case = family_case('multilabel')

def bce_ref(x, t):             return F.binary_cross_entropy_with_logits(x, t, reduction='none')
def bce_flat_ref(x, t):        return bce_ref(x, t).flatten()
def bce_pos_weight_ref(x, t):  return -(W*t*F.logsigmoid(x) + (1-t)*F.logsigmoid(-x))
def bce_pos_weight_vol_ref(x, t): # per-class: class axis last under 'none'
    return -(W[:3].view(3,1,1,1)*t*F.logsigmoid(x) + (1-t)*F.logsigmoid(-x)).movedim(1, -1)
def binary_focal_ref(x, t):    return sigmoid_focal_loss(x, t)
def binary_focal_flat_ref(x, t): return sigmoid_focal_loss(x, t).flatten()
def binary_focal_gamma05_ref(x, t): return sigmoid_focal_loss(x, t, gamma=0.5).flatten()
def asl_ref(x, y, gn=4., gp=1., m=0.05):
    "Asymmetric loss (Ridnik et al. 2021): focusing `gn`/`gp` on negatives/positives, negatives' probabilities shifted by `m`"
    p = torch.sigmoid(x); pm = (p-m).clamp(min=0)
    return -(y*(1-p)**gp*torch.log(p) + (1-y)*pm**gn*torch.log(1-pm))
def asl_flat_ref(x, t):        return asl_ref(x, t).flatten()
def asl_gamma_pos05_ref(x, t): return asl_ref(x, t, gp=0.5).flatten()

# missing labels (-1 or NaN): 0 under 'none', left out of the mean's denominator; the written-out loss on the kept labels
def missing(t):                return (t==-1)|t.isnan()
def kept(x, t):                return (~missing(t)).sum()
def masked(ref):
    def f(x, t): m = missing(t); r = ref(x, torch.where(m, 0, t)); return torch.where(m.reshape(r.shape), 0, r)
    f.__name__ = f"masked_{ref.__name__}"; return f
def bce_written_ref(x, t):     return -(t*F.logsigmoid(x) + (1-t)*F.logsigmoid(-x)).flatten()
def bce_pos_weight_flat_ref(x, t): return bce_pos_weight_ref(x, t).flatten()
A3 = torch.tensor([0.25, 0.5, 0.9, 0.1, 0.6], dtype=torch.float64) # one alpha per class
def bce_ls_ref(x, t, e=0.2):   q = t*(1-e)+e/2; return -(q*F.logsigmoid(x) + (1-q)*F.logsigmoid(-x)).flatten()
def binary_focal_alpha_ref(x, t): return sigmoid_focal_loss(x, t, alpha=-1, reduction='none')*(A3*t + (1-A3)*(1-t))
def mlsm_ref(x, t):            return F.multilabel_soft_margin_loss(x, t, reduction='none')
# probabilities (a sigmoid's output) for fastai's `BCELossFlat`; torch clamps BCE's logarithms at -100
def prob_data(n, dt, g):       x,t = ml_data(n, dt, g); return torch.sigmoid(x), t
def prob_ign_data(n, dt, g):   x,t = ml_ign_data(n, dt, g); return torch.sigmoid(x), t
def bce_prob_ref(x, t):        return -(t*x.log().clamp_min(-100) + (1-t)*(1-x).log().clamp_min(-100)).flatten()
def pm1_data(n, dt, g):        return torch.randn(n, 1, dtype=dt, generator=g)*2, pm1(n, g)
def soft_margin_ref(x, t):     return F.softplus(-t*x[:,0])

CASES = [
    case('BCEWithLogitsLossFlat', lambda: BCEWithLogitsLossFlat(),  ml_data, bce_flat_ref, 'ml', n_out=N_CLS),
    case('BCEWithLogitsLossFlat-pos_weight', lambda: BCEWithLogitsLossFlat(pos_weight=W.float()), ml_data, bce_pos_weight_ref, 'ml', n_out=N_CLS),
    case('BinaryFocalLossFlat', lambda: BinaryFocalLossFlat(),      ml_data, binary_focal_flat_ref, 'ml', n_out=N_CLS),
    case('AsymmetricLossFlat', lambda: AsymmetricLossFlat(),        ml_data, asl_flat_ref, 'ml', n_out=N_CLS),
    # focusing parameters below 1 (NaN gradients in peers)
    case('BinaryFocalLossFlat-gamma0.5', lambda: BinaryFocalLossFlat(gamma=0.5), ml_data, binary_focal_gamma05_ref, 'ml', n_out=N_CLS),
    case('AsymmetricLossFlat-gamma_pos0.5', lambda: AsymmetricLossFlat(gamma_pos=0.5), ml_data, asl_gamma_pos05_ref, 'ml', n_out=N_CLS),
    # missing labels: `ignore_index`, and NaN targets with `ignore_nan`
    case('BCEWithLogitsLossFlat-ignore', lambda: BCEWithLogitsLossFlat(ignore_index=-1), ml_ign_data, masked(bce_written_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('BCEWithLogitsLossFlat-pos_weight-ignore', lambda: BCEWithLogitsLossFlat(pos_weight=W.float(), ignore_index=-1), ml_ign_data,
         masked(bce_pos_weight_flat_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('BCEWithLogitsLossFlat-nan', lambda: BCEWithLogitsLossFlat(ignore_nan=True), ml_nan_data, masked(bce_written_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('BinaryFocalLossFlat-ignore', lambda: BinaryFocalLossFlat(ignore_index=-1), ml_ign_data, masked(binary_focal_flat_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('BinaryFocalLossFlat-nan', lambda: BinaryFocalLossFlat(ignore_nan=True), ml_nan_data, masked(binary_focal_flat_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('AsymmetricLossFlat-ignore', lambda: AsymmetricLossFlat(ignore_index=-1), ml_ign_data, masked(asl_flat_ref), 'ml', mean_den=kept, n_out=N_CLS),
    case('AsymmetricLossFlat-nan', lambda: AsymmetricLossFlat(ignore_nan=True), ml_nan_data, masked(asl_flat_ref), 'ml', mean_den=kept, n_out=N_CLS),
    # label smoothing, per-class alpha, and torch's multi-label soft margin
    case('BCEWithLogitsLossFlat-ls', lambda: BCEWithLogitsLossFlat(label_smoothing=0.2), ml_data, bce_ls_ref, 'ml', n_out=N_CLS),
    case('BinaryFocalLossFlat-alpha', lambda: BinaryFocalLossFlat(alpha=A3.float()), ml_data, binary_focal_alpha_ref, 'ml', n_out=N_CLS),
    case('MultiLabelSoftMarginLossFlat', lambda: MultiLabelSoftMarginLossFlat(), ml_data, mlsm_ref, 'ml', n_out=N_CLS),
    # fastai's `BCELossFlat` on probabilities, with missing labels; torch's soft margin on targets ±1
    case('BCELossFlat', lambda: BCELossFlat(), prob_data, bce_prob_ref, 'ml', n_out=N_CLS, tail=torch.nn.Sigmoid),
    case('BCELossFlat-ignore', lambda: BCELossFlat(ignore_index=-1), prob_ign_data, masked(bce_prob_ref), 'ml',
         mean_den=kept, n_out=N_CLS, tail=torch.nn.Sigmoid),
    case('SoftMarginLossFlat', lambda: SoftMarginLossFlat(), pm1_data, soft_margin_ref, 'rank', n_out=1),
    # volumes (N,C,D,H,W) with the class axis at 1
    case('BCEWithLogitsLossFlat-vol', lambda: BCEWithLogitsLossFlat(axis=1), volml_data, bce_ref, 'ml', n_out=3, spatial=3),
    case('BCEWithLogitsLossFlat-pos_weight-vol', lambda: BCEWithLogitsLossFlat(axis=1, pos_weight=W[:3].float()), volml_data,
         bce_pos_weight_vol_ref, 'ml', n_out=3, spatial=3),
    case('BinaryFocalLossFlat-vol', lambda: BinaryFocalLossFlat(axis=1), volml_data, binary_focal_ref, 'ml', n_out=3, spatial=3),
    case('AsymmetricLossFlat-vol', lambda: AsymmetricLossFlat(axis=1), volml_data, asl_ref, 'ml', n_out=3, spatial=3),
]
