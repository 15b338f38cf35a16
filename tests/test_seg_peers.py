"""The segmentation losses of issue 26 against the peers' own code (smp, MONAI): values and input gradients in float64 on random
masks and on the edge cases (empty masks, perfect predictions, a class absent), and each documented difference asserted"""
import warnings, pytest, torch, torch.nn.functional as F
from fastcore.test import test_close as close
from fastai_losses.all import *
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import segmentation_models_pytorch.losses as smp_losses, monai.losses as monai_losses

pytestmark = pytest.mark.segmentation
g = torch.Generator().manual_seed(0)
def rnd(*s, dt=torch.float64): return torch.randn(*s, dtype=dt, generator=g)*2
def mc_targ(absent=None):
    t = torch.randint(0, 3, (4,8,8), generator=g)
    return t if absent is None else torch.where(t==absent, (absent+1)%3, t)
def b_targ(kind='random'):
    if kind=='empty': return torch.zeros(4,1,8,8, dtype=torch.float64)
    t = (torch.rand(4,1,8,8, generator=g)>0.6).double()
    if kind=='one_empty': t[1] = 0
    return t
def perfect_mc(t): return F.one_hot(t, 3).movedim(-1, 1).double()*40-20
def perfect_b(t): return (2*t-1)*20

# (id, ours, peer, data): ours and peer take (x, t) as each expects; data() -> (x, t)
MC = lambda kw: dict(to_onehot_y=True, softmax=True, **kw)
ROWS = [
    # log Dice / Jaccard: smp's Dice smooth=s is ours 2s (smp's Dice is its Tversky score with α=β=½)
    ('log-dice', lambda x,t: DiceLossFlat(log_loss=True, smooth=2.)(x, t), lambda x,t: smp_losses.DiceLoss('multiclass', log_loss=True, smooth=1.)(x, t),
     lambda: (rnd(4,3,8,8), mc_targ())),
    ('log-dice-binary', lambda x,t: DiceLossFlat(mode='binary', log_loss=True, smooth=2.)(x, t),
     lambda x,t: smp_losses.DiceLoss('binary', log_loss=True, smooth=1.)(x, t), lambda: (rnd(4,1,8,8), b_targ())),
    ('log-jaccard', lambda x,t: JaccardLossFlat(log_loss=True)(x, t), lambda x,t: smp_losses.JaccardLoss('multiclass', log_loss=True, smooth=1.)(x, t),
     lambda: (rnd(4,3,8,8), mc_targ())),
    ('log-jaccard-multilabel', lambda x,t: JaccardLossFlat(mode='multilabel', log_loss=True)(x, t),
     lambda x,t: smp_losses.JaccardLoss('multilabel', log_loss=True, smooth=1.)(x, t), lambda: (rnd(4,3,8,8), (torch.rand(4,3,8,8, generator=g)>0.5).double())),
    # Generalized Dice: MONAI's weights are float32 (it casts the class sizes), hence 1e-6 and not less
    ('gdl-batch', lambda x,t: GeneralizedDiceLossFlat()(x, t), lambda x,t: monai_losses.GeneralizedDiceLoss(**MC(dict(batch=True)))(x, t[:,None]),
     lambda: (rnd(4,3,8,8), mc_targ())),
    ('gdl-per-image', lambda x,t: GeneralizedDiceLossFlat(reduction='none')(x, t), lambda x,t: monai_losses.GeneralizedDiceLoss(**MC(dict(reduction='none')))(x, t[:,None]).flatten(),
     lambda: (rnd(4,3,8,8), mc_targ())),
    ('gdl-class-absent', lambda x,t: GeneralizedDiceLossFlat(per_image=True)(x, t), lambda x,t: monai_losses.GeneralizedDiceLoss(**MC({}))(x, t[:,None]),
     lambda: (rnd(4,3,8,8), mc_targ(absent=2))),
    ('gdl-perfect', lambda x,t: GeneralizedDiceLossFlat()(x, t), lambda x,t: monai_losses.GeneralizedDiceLoss(**MC(dict(batch=True)))(x, t[:,None]),
     lambda: (lambda t: (perfect_mc(t), t))(mc_targ())),
    ('gdl-binary-one-empty', lambda x,t: GeneralizedDiceLossFlat(mode='binary', reduction='none')(x, t),
     lambda x,t: monai_losses.GeneralizedDiceLoss(sigmoid=True, reduction='none')(x, t).flatten(), lambda: (rnd(4,1,8,8), b_targ('one_empty'))),
    ('gdl-multilabel-vol', lambda x,t: GeneralizedDiceLossFlat(mode='multilabel')(x, t), lambda x,t: monai_losses.GeneralizedDiceLoss(sigmoid=True, batch=True)(x, t),
     lambda: (rnd(2,3,4,5,6), (torch.rand(2,3,4,5,6, generator=g)>0.5).double())),
    # MCC: smp takes probabilities of one binary mask, the batch as one volume
    ('mcc-binary', lambda x,t: MCCLossFlat(mode='binary')(x, t), lambda x,t: smp_losses.MCCLoss()(torch.sigmoid(x), t), lambda: (rnd(4,1,8,8), b_targ())),
    ('mcc-empty', lambda x,t: MCCLossFlat(mode='binary')(x, t), lambda x,t: smp_losses.MCCLoss()(torch.sigmoid(x), t), lambda: (rnd(4,1,8,8), b_targ('empty'))),
    ('mcc-perfect', lambda x,t: MCCLossFlat(mode='binary')(x, t), lambda x,t: smp_losses.MCCLoss()(torch.sigmoid(x), t),
     lambda: (lambda t: (perfect_b(t), t))(b_targ())),
    ('mcc-multiclass-one-vs-rest', lambda x,t: MCCLossFlat()(x, t),
     lambda x,t: torch.stack([smp_losses.MCCLoss()(F.softmax(x, 1)[:,c], (t==c).double()) for c in range(3)]).mean(), lambda: (rnd(4,3,8,8), mc_targ())),
    # Dice + CE, Dice + focal, with MONAI's smoothing and its per-image Dice
    ('dicece', lambda x,t: DiceCELossFlat(smooth=1e-5, per_image=True)(x, t), lambda x,t: monai_losses.DiceCELoss(**MC({}))(x, t[:,None]),
     lambda: (rnd(4,3,8,8), mc_targ())),
    ('dicece-class-absent', lambda x,t: DiceCELossFlat(smooth=1e-5, per_image=True)(x, t), lambda x,t: monai_losses.DiceCELoss(**MC({}))(x, t[:,None]),
     lambda: (rnd(4,3,8,8), mc_targ(absent=1))),
    ('dicece-batch-weights', lambda x,t: DiceCELossFlat(smooth=1e-5, lambda_dice=0.3, lambda_ce=0.7)(x, t),
     lambda x,t: monai_losses.DiceCELoss(**MC(dict(batch=True, lambda_dice=0.3, lambda_ce=0.7)))(x, t[:,None]), lambda: (rnd(4,3,8,8), mc_targ())),
    ('dicece-binary', lambda x,t: DiceCELossFlat(mode='binary', smooth=1e-5, per_image=True)(x, t), lambda x,t: monai_losses.DiceCELoss(sigmoid=True)(x, t),
     lambda: (rnd(4,1,8,8), b_targ('one_empty'))),
    ('dicece-vol', lambda x,t: DiceCELossFlat(smooth=1e-5, per_image=True)(x, t), lambda x,t: monai_losses.DiceCELoss(**MC({}))(x, t[:,None]),
     lambda: (rnd(2,3,4,5,6), torch.randint(0, 3, (2,4,5,6), generator=g))),
    ('dicefocal-binary', lambda x,t: DiceFocalLossFlat(mode='binary', smooth=1e-5, per_image=True)(x, t),
     lambda x,t: monai_losses.DiceFocalLoss(sigmoid=True)(x, t), lambda: (rnd(4,1,8,8), b_targ())),
    ('dicefocal-multilabel-gamma', lambda x,t: DiceFocalLossFlat(mode='multilabel', gamma=1.5, smooth=1e-5, per_image=True)(x, t),
     lambda x,t: monai_losses.DiceFocalLoss(sigmoid=True, gamma=1.5)(x, t), lambda: (rnd(4,3,8,8), (torch.rand(4,3,8,8, generator=g)>0.5).double())),
    ('dicefocal-empty', lambda x,t: DiceFocalLossFlat(mode='binary', smooth=1e-5, per_image=True)(x, t),
     lambda x,t: monai_losses.DiceFocalLoss(sigmoid=True)(x, t), lambda: (rnd(4,1,8,8), b_targ('empty'))),
]

@pytest.mark.parametrize('ours,peer,data', [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_equals_peer(ours, peer, data):
    "Value and input gradient in float64, to 1e-6"
    x,t = data()
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    a,b = ours(x1, t),peer(x2, t)
    close(a, b, eps=1e-6)
    w = torch.randn(a.shape, dtype=torch.float64, generator=g)
    (a*w).sum().backward(); (b*w.view_as(b)).sum().backward()
    close(x1.grad, x2.grad, eps=1e-6)

@pytest.mark.parametrize('per_image', [False, True])
@pytest.mark.parametrize('targ', ['random', 'one_empty', 'empty'])
def test_lovasz_hinge_equals_smp(per_image, targ):
    "smp's Lovász casts to float32, so the comparison is in float32 (float64 against the authors' algorithm: the registry)"
    x,t = rnd(4,1,8,8, dt=torch.float32),b_targ(targ).long()
    x1,x2 = x.clone().requires_grad_(),x.clone().requires_grad_()
    a,b = LovaszHingeLossFlat(per_image=per_image)(x1, t),smp_losses.LovaszLoss('binary', per_image=per_image)(x2, t)
    close(a, b, eps=1e-5)
    a.backward(); b.backward()
    close(x1.grad, x2.grad, eps=1e-5)

def test_lovasz_hinge_ignore_equals_smp():
    x,t = rnd(4,1,8,8, dt=torch.float32),b_targ().long()
    t = torch.where(torch.rand(t.shape, generator=g)<0.3, 255, t)
    close(LovaszHingeLossFlat(ignore_index=255)(x, t), smp_losses.LovaszLoss('binary', ignore_index=255)(x, t), eps=1e-5)

def test_lovasz_hinge_multilabel_differs_from_smp():
    "Documented: ours averages one hinge per channel; smp's 'multilabel' pools every channel into one mask"
    x,t = rnd(4,3,8,8, dt=torch.float32),(torch.rand(4,3,8,8, generator=g)>0.6).long()
    t[:,0],t[:,1] = 1,0 # a full and an empty channel: pooled, they are one half-full mask
    per_channel = torch.stack([smp_losses.LovaszLoss('binary')(x[:,c:c+1], t[:,c:c+1]) for c in range(3)]).mean()
    close(LovaszHingeLossFlat(mode='multilabel')(x, t), per_channel, eps=1e-5)
    pooled = smp_losses.LovaszLoss('multilabel')(x, t)
    assert (pooled-per_channel).abs()>0.1

def test_log_dice_absent_class_differs_from_smp():
    "Documented: smp zeroes a class absent from the batch whatever is predicted; ours scores it -log(s/(P+s)), 0 at P=0"
    x,t = rnd(4,3,8,8),mc_targ(absent=2)
    ours,smp = DiceLossFlat(log_loss=True, smooth=2.)(x, t),smp_losses.DiceLoss('multiclass', log_loss=True, smooth=1.)(x, t)
    I,P,T = soft_overlap_sums(x, t)
    I,P,T = I.sum(0),P.sum(0),T.sum(0)
    per_cls = -torch.log((2*I+2)/(P+T+2))
    close(ours, per_cls.mean()); close(smp, per_cls[:2].sum()/3)

def test_dicefocal_multiclass_differs_from_monai():
    "Documented: in 'multiclass' mode ours is the softmax focal loss of `FocalLossFlat`; MONAI's is a sigmoid focal loss per one-hot channel"
    from fastai_losses.classification import FocalLossFlat
    x,t = rnd(4,3,8,8),mc_targ()
    ours = DiceFocalLossFlat(smooth=1e-5, per_image=True)(x, t)
    close(ours, DiceLossFlat(smooth=1e-5, per_image=True)(x, t) + FocalLossFlat(axis=1)(x, t), eps=1e-9)
    mon = monai_losses.DiceFocalLoss(to_onehot_y=True, softmax=True)(x, t[:,None])
    sig = monai_losses.FocalLoss(to_onehot_y=True)(x, t[:,None]) # MONAI's focal term: sigmoid, on one-hot channels
    close(mon, DiceLossFlat(smooth=1e-5, per_image=True)(x, t) + sig, eps=1e-6)
    assert (ours-mon).abs()>1e-3

def test_gdl_empty_binary_is_zero():
    "Documented (as MONAI): an image with no foreground has every weight 0, so it scores 0 whatever is predicted"
    x = rnd(2,1,8,8).requires_grad_()
    l = GeneralizedDiceLossFlat(mode='binary', reduction='none')(x, torch.zeros(2,1,8,8))
    close(l, torch.zeros(2)); l.sum().backward(); close(x.grad, torch.zeros_like(x))

@pytest.mark.parametrize('shape', [(2,3,16,16), (2,3,8,8,8)], ids=['2d','3d'])
@pytest.mark.parametrize('weights', [None, [1., 0.3, 0.1]])
def test_deep_supervision_equals_monai(shape, weights):
    "A list of outputs at 1, 1/2, 1/4 of the size; MONAI resizes a float (N,1,...) target with 'nearest-exact'"
    x,t = rnd(*shape),torch.randint(0, 3, (shape[0],)+shape[2:], generator=g)
    pool = F.avg_pool2d if len(shape)==4 else F.avg_pool3d
    outs = [x, pool(x, 2), pool(x, 4)]
    o1,o2 = [o.clone().requires_grad_() for o in outs],[o.clone().requires_grad_() for o in outs]
    a = DeepSupervisionLoss(DiceCELossFlat(smooth=1e-5, per_image=True), weights=weights)(o1, t)
    b = monai_losses.DeepSupervisionLoss(monai_losses.DiceCELoss(to_onehot_y=True, softmax=True), weights=weights)(o2, t[:,None].double())
    close(a, b, eps=1e-6)
    a.backward(); b.backward()
    for u,v in zip(o1, o2): close(u.grad, v.grad, eps=1e-6)

def test_resize_nearest_equals_torch():
    t = torch.randint(0, 5, (2,3,13,7,9), generator=g)
    for size in [(6,3,4), (13,14,18), (5,7,9)]:
        assert (resize_nearest(t, size)==F.interpolate(t.float(), size=size, mode='nearest-exact').long()).all()
