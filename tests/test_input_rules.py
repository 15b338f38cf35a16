"The rules that are not one registry case each: continuity at empty classes, construction-time refusals, the triplet warning"
import inspect, warnings, pytest, torch
from fastcore.test import test_close as close, test_fail as fails
from fastai_losses.all import *
from registry import by_family, loss_classes, family_param

# the overlap losses (Dice, Jaccard, Tversky...): the segmentation losses with a `smooth`
OVERLAP = [family_param(m, family=f) for m,f in loss_classes(by_family('segmentation')).items() if 'smooth' in inspect.signature(m).parameters]

@pytest.mark.parametrize('make', OVERLAP, ids=lambda m: m.__name__)
@pytest.mark.parametrize('mode', ['binary', 'multiclass'])
def test_continuous_at_empty_classes(make, mode):
    "The loss of a mask whose class 1 is empty, as class 1's predicted mass P sweeps from 0 to 2: no jump (the old rule jumped at P=0.5)"
    n = 16 # pixels
    def loss(P):
        q = torch.full((1,1,4,4), P/n, dtype=torch.float64)
        if mode=='binary': return make(mode='binary')(torch.logit(q), torch.zeros(1,4,4))
        return make()(torch.cat([torch.log1p(-q), torch.log(q)], 1), torch.zeros(1,4,4, dtype=torch.long))
    Ps = torch.linspace(1e-4, 2, 1001, dtype=torch.float64)
    ls = torch.stack([loss(float(P)) for P in Ps])
    assert (ls.diff().abs() < 0.01).all(), f"largest step {ls.diff().abs().max():.4f}" # the old rule stepped by 0.338 at P=0.5
    assert (ls.diff() >= 0).all() # more mass on the empty class costs more
    fine = torch.stack([loss(float(P)) for P in torch.linspace(0.45, 0.55, 101, dtype=torch.float64)])
    assert (fine.diff().abs() < 1e-3).all() # where the old rule jumped, steps shrink with the grid
    if make is DiceLossFlat and mode=='binary': close(ls, Ps/(Ps+1), eps=1e-9) # s/(P+s) as the score, s=1

@pytest.mark.parametrize('make', OVERLAP, ids=lambda m: m.__name__)
def test_refused_at_construction(make):
    fails(lambda: make(smooth=0.), contains="expected smooth > 0")
    if 'weight' not in inspect.signature(make).parameters: return # no per-class weight (Generalized Dice weighs by size)
    fails(lambda: make(mode='binary', weight=[1., 2.]), contains="weight has 2 values but 'binary' mode has 1 class")
    make(mode='binary', weight=[2.]) # one value is fine

@pytest.mark.embedding
def test_triplet_warns_once_without_positives():
    lf = TripletLossFlat()
    x = torch.randn(6, 4, requires_grad=True)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        l = lf(x, torch.arange(6)); lf(x, torch.arange(6))
        l.backward()
    assert l.item()==0 and (x.grad==0).all()
    assert len(ws)==1 and "batches need two or more items of a class" in str(ws[0].message)
    lf = TripletLossFlat()
    with warnings.catch_warnings():
        warnings.simplefilter('error') # a batch with triplets never warns
        lf(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]))
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        lf(torch.randn(6, 4), torch.arange(6)) # labels on the CPU are read on every batch, not only the first
    assert len(ws)==1 and ws[0].filename==__file__ # reported at the caller's line
