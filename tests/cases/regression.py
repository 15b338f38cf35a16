"Regression cases: one real target per item; the quantile and Gaussian losses predict several numbers per item"
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, reg_data, quant_data, gauss_data

case = family_case('regression')

def mse_ref(x, t):         return (x[:,0]-t)**2
def l1_ref(x, t):          return (x[:,0]-t).abs()
def huber_ref(x, t):       return F.huber_loss(x[:,0], t, delta=0.7, reduction='none')
def smooth_l1_ref(x, t):   return F.smooth_l1_loss(x[:,0], t, beta=0.7, reduction='none')
def log_cosh_ref(x, t):    return torch.log(torch.cosh(x[:,0]-t))
def pinball_ref(x, t, qs=(0.1,0.5,0.9)):
    "The pinball loss of each quantile, averaged over quantiles"
    q = torch.tensor(qs, dtype=x.dtype); d = t[:,None]-x
    return torch.where(d>=0, q*d, (q-1)*d).mean(1)
def gaussian_nll_ref(x, t):
    "x[:,0] is the mean, softplus(x[:,1]) the variance"
    var = torch.log1p(torch.exp(x[:,1])).clamp_min(1e-6)
    return 0.5*(torch.log(var) + (t-x[:,0])**2/var)

CASES = [
    case('MSELossFlat',        lambda: MSELossFlat(),               reg_data, mse_ref, 'reg'),
    case('L1LossFlat',         lambda: L1LossFlat(),                reg_data, l1_ref, 'reg'),
    case('HuberLossFlat',      lambda: HuberLossFlat(delta=0.7),    reg_data, huber_ref, 'reg'),
    case('SmoothL1LossFlat',   lambda: SmoothL1LossFlat(beta=0.7),  reg_data, smooth_l1_ref, 'reg'),
    case('LogCoshLossFlat',    lambda: LogCoshLossFlat(),           reg_data, log_cosh_ref, 'reg'),
    case('QuantileLossFlat',   lambda: QuantileLossFlat(),          quant_data, pinball_ref, 'quant', n_out=3),
    case('GaussianNLLLossFlat',lambda: GaussianNLLLossFlat(),       gauss_data, gaussian_nll_ref, 'gauss', nonneg=False, n_out=2),
]
