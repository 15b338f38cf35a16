"Regression cases: one real target per item; the quantile and Gaussian losses predict several numbers per item"
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, reg_data, quant_data, gauss_data, reg_nan_data, quant_nan_data, gauss_nan_data

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

# NaN targets with `ignore_nan`: 0 under 'none', left out of the mean's denominator
def kept(x, t): return (~t.isnan()).sum()
def masked(ref):
    def f(x, t): m = t.isnan(); return torch.where(m, 0, ref(x, torch.where(m, 0, t)))
    f.__name__ = f"masked_{ref.__name__}"; return f

def count_data(n, dt, g): # log-rates and Poisson counts (torch's `nn.PoissonNLLLoss` with its default `log_input`)
    x,_ = reg_data(n, dt, g); return x, torch.poisson(torch.full((n,), 3., dtype=dt), generator=g)
def poisson_ref(x, t): return x[:,0].exp()-t*x[:,0] # the Poisson NLL without its constant log(t!)
def poisson_full_ref(x, t): # with Stirling's term for t > 1, as torch's `full=True`
    return poisson_ref(x, t) + torch.where(t>1, t*t.log()-t+0.5*(2*torch.pi*t).log(), 0)

CASES = [
    case('MSELossFlat',        lambda: MSELossFlat(),               reg_data, mse_ref, 'reg'),
    case('PoissonNLLLossFlat', lambda: PoissonNLLLossFlat(),        count_data, poisson_ref, 'count', nonneg=False),
    case('PoissonNLLLossFlat-full', lambda: PoissonNLLLossFlat(full=True), count_data, poisson_full_ref, 'count', nonneg=False),
    case('L1LossFlat',         lambda: L1LossFlat(),                reg_data, l1_ref, 'reg'),
    case('HuberLossFlat',      lambda: HuberLossFlat(delta=0.7),    reg_data, huber_ref, 'reg'),
    case('SmoothL1LossFlat',   lambda: SmoothL1LossFlat(beta=0.7),  reg_data, smooth_l1_ref, 'reg'),
    case('LogCoshLossFlat',    lambda: LogCoshLossFlat(),           reg_data, log_cosh_ref, 'reg'),
    case('QuantileLossFlat',   lambda: QuantileLossFlat(),          quant_data, pinball_ref, 'quant', n_out=3),
    case('GaussianNLLLossFlat',lambda: GaussianNLLLossFlat(),       gauss_data, gaussian_nll_ref, 'gauss', nonneg=False, n_out=2),
    case('MSELossFlat-nan',      lambda: MSELossFlat(ignore_nan=True),      reg_nan_data, masked(mse_ref), 'reg', mean_den=kept),
    case('L1LossFlat-nan',       lambda: L1LossFlat(ignore_nan=True),       reg_nan_data, masked(l1_ref), 'reg', mean_den=kept),
    case('HuberLossFlat-nan',    lambda: HuberLossFlat(delta=0.7, ignore_nan=True), reg_nan_data, masked(huber_ref), 'reg', mean_den=kept),
    case('SmoothL1LossFlat-nan', lambda: SmoothL1LossFlat(beta=0.7, ignore_nan=True), reg_nan_data, masked(smooth_l1_ref), 'reg', mean_den=kept),
    case('LogCoshLossFlat-nan',  lambda: LogCoshLossFlat(ignore_nan=True),  reg_nan_data, masked(log_cosh_ref), 'reg', mean_den=kept),
    case('QuantileLossFlat-nan', lambda: QuantileLossFlat(ignore_nan=True), quant_nan_data, masked(pinball_ref), 'quant', mean_den=kept, n_out=3),
    case('GaussianNLLLossFlat-nan', lambda: GaussianNLLLossFlat(ignore_nan=True), gauss_nan_data, masked(gaussian_nll_ref), 'gauss', mean_den=kept,
         nonneg=False, n_out=2),
]
