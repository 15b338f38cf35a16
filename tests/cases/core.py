"What every family file uses: the `Case` record, the data makers (one per kind of model output and target), `expected` and `gen`"
from dataclasses import dataclass
from typing import Callable
import torch, torch.nn.functional as F

# The families: one case file each, and one pytest marker each (`pytest -m segmentation`), registered in pyproject.toml
FAMILIES = ('regression', 'classification', 'multilabel', 'segmentation', 'distribution', 'embedding', 'generation', 'combination',
            'multitarget')

N_CLS = 5
W = torch.tensor([0.5, 1., 2., 1.5, 0.7], dtype=torch.float64) # per-class weights, in float64 for the references

# Data makers: (n, dtype, generator) -> (inp, targ); inp is what a model outputs, targ what the dataloader gives
def reg_data(n, dt, g):   return torch.randn(n, 1, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)
def cls_data(n, dt, g):   return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, torch.randint(0, N_CLS, (n,), generator=g)
def ml_data(n, dt, g):    return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, (torch.rand(n, N_CLS, generator=g)>0.6).to(dt)
def quant_data(n, dt, g): return torch.randn(n, 3, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)
def gauss_data(n, dt, g): return torch.randn(n, 2, dtype=dt, generator=g), torch.randn(n, dtype=dt, generator=g)
def logprob_data(n, dt, g): # NLL's input: log-probabilities
    x,t = cls_data(n, dt, g); return F.log_softmax(x, -1), t

S = 5 # mask side
def seg_data(n, dt, g):   return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, torch.randint(0, 3, (n, S, S), generator=g)
def segb_data(n, dt, g):  return torch.randn(n, 1, S, S, dtype=dt, generator=g)*2, (torch.rand(n, S, S, generator=g)>0.5).long()
def segml_data(n, dt, g): return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, (torch.rand(n, 3, S, S, generator=g)>0.5).to(dt)
def soft_data(n, dt, g):  return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, F.softmax(torch.randn(n, N_CLS, dtype=dt, generator=g)*2, 1)
def logit_data(n, dt, g): return torch.randn(n, N_CLS, dtype=dt, generator=g)*2, torch.randn(n, N_CLS, dtype=dt, generator=g)*2
def emb_data(n, dt, g):   return torch.randn(n, 4, dtype=dt, generator=g), torch.randint(0, 3, (n,), generator=g)
def cls_ign_data(n, dt, g): # 3 in 10 targets ignored, on average (pytorch#73205: label smoothing with ignore_index)
    x,t = cls_data(n, dt, g); return x, torch.where(torch.rand(n, generator=g)<0.3, -100, t)
def _missing(t, g, fill):
    "`t` with 3 in 10 values set to `fill` (a missing label), none in the first item (whose input some suites set to NaN)"
    m = torch.rand(t.shape, generator=g)<0.3; m[0] = False
    return torch.where(m, torch.as_tensor(fill, dtype=t.dtype), t)
def ml_ign_data(n, dt, g):    x,t = ml_data(n, dt, g);    return x, _missing(t, g, -1.)
def ml_nan_data(n, dt, g):    x,t = ml_data(n, dt, g);    return x, _missing(t, g, float('nan'))
def reg_nan_data(n, dt, g):   x,t = reg_data(n, dt, g);   return x, _missing(t, g, float('nan'))
def quant_nan_data(n, dt, g): x,t = quant_data(n, dt, g); return x, _missing(t, g, float('nan'))
def gauss_nan_data(n, dt, g): x,t = gauss_data(n, dt, g); return x, _missing(t, g, float('nan'))
def seg_ign_data(n, dt, g): # some pixels at 255
    x,t = seg_data(n, dt, g); return x, torch.where(torch.rand(t.shape, generator=g)<0.3, 255, t)
def segb_soft_data(n, dt, g):  return torch.randn(n, 1, S, S, dtype=dt, generator=g)*2, torch.rand(n, S, S, dtype=dt, generator=g)
def segml_soft_data(n, dt, g): return torch.randn(n, 3, S, S, dtype=dt, generator=g)*2, torch.rand(n, 3, S, S, dtype=dt, generator=g)
# volumes (N,C,D,H,W), class axis 1
V = (2, 3, 3)
def vol_data(n, dt, g):    return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, torch.randint(0, 3, (n, *V), generator=g)
def vol1_data(n, dt, g):   x,t = vol_data(n, dt, g); return x, t.unsqueeze(1) # masks (N,1,D,H,W)
def vol_logprob_data(n, dt, g): x,t = vol_data(n, dt, g); return F.log_softmax(x, 1), t
def volb_data(n, dt, g):   return torch.randn(n, 1, *V, dtype=dt, generator=g)*2, (torch.rand(n, *V, generator=g)>0.5).long()
def volml_data(n, dt, g):  return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, (torch.rand(n, 3, *V, generator=g)>0.5).to(dt)
def volsoft_data(n, dt, g):
    return torch.randn(n, 3, *V, dtype=dt, generator=g)*2, F.softmax(torch.randn(n, 3, *V, dtype=dt, generator=g)*2, 1)
def img_data(n, dt, g):  # restored images (a model's output, slightly out of [0, 1]) and their originals in [0, 1]
    t = torch.rand(n, 3, 8, 8, generator=g).to(dt); return (t+0.1*torch.randn(n, 3, 8, 8, generator=g)).to(dt), t
def pm1(n, g):            return torch.where(torch.rand(n, generator=g)>0.5, 1, -1)
def pair_data(n, dt, g):  return torch.randn(n, 2, 4, dtype=dt, generator=g), pm1(n, g)
def rank_data(n, dt, g):  return torch.randn(n, 2, dtype=dt, generator=g), pm1(n, g)

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
    ref_mean: Callable = None # (inp, targ) -> 'mean' when it is not a mean of 'none' (Dice-like losses score the batch as one volume); 'sum' is then N*'mean'
    ref_sum: Callable = None  # (inp, targ) -> 'sum' when it is neither the sum of 'none' nor N*'mean' (a CombinedLoss sums its terms' sums)
    batchwise: bool = False   # an item's 'none' value depends on the rest of the batch (in-batch mining)
    spatial: int = None       # spatial axes after (N,C): 0 for one item per row, 2 for images, 3 for volumes; None: 2 for 'seg*' kinds, else 0
    soft: bool = False        # targets are soft masks in (0,1), whose perfect prediction is logit(t)
    family: str = None        # one of `FAMILIES`: the case file it is in, and its pytest marker; each family file sets it
    def __post_init__(self):
        if self.spatial is None: self.spatial = 2 if self.kind.startswith('seg') else 0
        if self.family is not None and self.family not in FAMILIES: raise ValueError(f"{self.id}: family {self.family!r}; expected one of {FAMILIES}")

def family_case(family):
    "A `Case` maker for one family file: `case = family_case('segmentation')`, then `case('DiceLossFlat', ...)`"
    def case(*args, **kwargs): return Case(*args, family=family, **kwargs)
    return case

def expected(case, x, t, per, reduction):
    "The reference under `reduction`, from the per-item reference `per`"
    if reduction=='none': return per
    if reduction=='sum' and case.ref_sum: return case.ref_sum(x, t)
    if case.ref_mean: m = case.ref_mean(x, t); return m if reduction=='mean' else m*x.shape[0]
    if reduction=='sum': return per.sum()
    den = case.mean_den(x, t) if case.mean_den else per.numel()
    return per.sum()/den if den else per.sum()*0

def gen(seed=0): return torch.Generator().manual_seed(seed)
