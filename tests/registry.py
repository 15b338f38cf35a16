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

def _p_t(x, t): return F.softmax(x, -1).gather(1, t[:,None])[:,0]
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
]
IDS = [c.id for c in CASES]

def gen(seed=0): return torch.Generator().manual_seed(seed)
