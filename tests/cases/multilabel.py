"Binary and multi-label cases: one sigmoid per logit and a 0/1 target per logit; per-class `pos_weight`, and volumes (N,C,D,H,W)"
import torch, torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss
from fastai_losses.all import *
from .core import family_case, N_CLS, W, ml_data, volml_data

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

CASES = [
    case('BCEWithLogitsLossFlat', lambda: BCEWithLogitsLossFlat(),  ml_data, bce_flat_ref, 'ml', n_out=N_CLS),
    case('BCEWithLogitsLossFlat-pos_weight', lambda: BCEWithLogitsLossFlat(pos_weight=W.float()), ml_data, bce_pos_weight_ref, 'ml', n_out=N_CLS),
    case('BinaryFocalLossFlat', lambda: BinaryFocalLossFlat(),      ml_data, binary_focal_flat_ref, 'ml', n_out=N_CLS),
    case('AsymmetricLossFlat', lambda: AsymmetricLossFlat(),        ml_data, asl_flat_ref, 'ml', n_out=N_CLS),
    # focusing parameters below 1 (NaN gradients in peers)
    case('BinaryFocalLossFlat-gamma0.5', lambda: BinaryFocalLossFlat(gamma=0.5), ml_data, binary_focal_gamma05_ref, 'ml', n_out=N_CLS),
    case('AsymmetricLossFlat-gamma_pos0.5', lambda: AsymmetricLossFlat(gamma_pos=0.5), ml_data, asl_gamma_pos05_ref, 'ml', n_out=N_CLS),
    # volumes (N,C,D,H,W) with the class axis at 1
    case('BCEWithLogitsLossFlat-vol', lambda: BCEWithLogitsLossFlat(axis=1), volml_data, bce_ref, 'ml', n_out=3, spatial=3),
    case('BCEWithLogitsLossFlat-pos_weight-vol', lambda: BCEWithLogitsLossFlat(axis=1, pos_weight=W[:3].float()), volml_data,
         bce_pos_weight_vol_ref, 'ml', n_out=3, spatial=3),
    case('BinaryFocalLossFlat-vol', lambda: BinaryFocalLossFlat(axis=1), volml_data, binary_focal_ref, 'ml', n_out=3, spatial=3),
    case('AsymmetricLossFlat-vol', lambda: AsymmetricLossFlat(axis=1), volml_data, asl_ref, 'ml', n_out=3, spatial=3),
]
