"Distribution cases: soft targets (probabilities, or logits with `log_target`) and knowledge distillation's tempered KL"
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, N_CLS, soft_data, cls_data, logit_data, volsoft_data

case = family_case('distribution')

def soft_ce_ref(x, t):       return -(t*F.log_softmax(x, 1)).sum(1)
def soft_ce_index_ref(x, t): return -F.log_softmax(x, 1).gather(1, t[:,None])[:,0] # class indices: the plain cross-entropy
def kl_ref(T=2., log_target=False):
    "Hinton et al.'s distillation term T²·KL(q‖p) at temperature `T`, target probabilities (or log-probabilities) tempered too"
    def kl(x, t):
        q = F.softmax((t if log_target else t.log())/T, 1); p = F.softmax(x/T, 1)
        return T**2*(q*(q.log()-p.log())).sum(1)
    return kl

CASES = [
    case('SoftTargetCrossEntropyFlat', lambda: SoftTargetCrossEntropyFlat(), soft_data, soft_ce_ref, 'soft', n_out=N_CLS),
    case('SoftTargetCrossEntropyFlat-index', lambda: SoftTargetCrossEntropyFlat(), cls_data, soft_ce_index_ref, 'cls', n_out=N_CLS),
    case('KLDivLossFlat-T2',   lambda: KLDivLossFlat(temperature=2.), soft_data, kl_ref(2.), 'soft', n_out=N_CLS),
    case('KLDivLossFlat-log_target', lambda: KLDivLossFlat(temperature=3., log_target=True), logit_data, kl_ref(3., True), 'logit', n_out=N_CLS),
    # volumes (N,C,D,H,W) with the class axis at 1
    case('SoftTargetCrossEntropyFlat-vol', lambda: SoftTargetCrossEntropyFlat(axis=1), volsoft_data, soft_ce_ref, 'soft', n_out=3, spatial=3),
    case('KLDivLossFlat-vol', lambda: KLDivLossFlat(temperature=2., axis=1), volsoft_data, kl_ref(2.), 'soft', n_out=3, spatial=3),
]
