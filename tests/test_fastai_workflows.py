"Segmentation losses in `unet_learner`, distillation, MixUp/CutMix with soft targets, and `CombinedLoss` components in the logger"
import pytest, torch, torch.nn as nn, torch.nn.functional as F, numpy as np
from fastai.vision.all import *
from fastai.callback.mixup import MixUp, CutMix
from fastai_losses.all import *
# after the star imports: fastcore's `eq` (a comparison that asserts nothing) comes with `fastai.vision.all`
from fastcore.test import test_eq as eq, test_close as close, test_fail as fails
from registry import CASES, by_family, loss_classes

CODES = ['bg','square']
@pytest.fixture(scope='module')
def seg_dls(tmp_path_factory):
    "12 images of a bright square on noise, and their masks"
    path = tmp_path_factory.mktemp('squares')
    (path/'images').mkdir(); (path/'labels').mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        a,b = rng.integers(2, 16, 2); m = np.zeros((32,32), np.uint8); m[a:a+12, b:b+12] = 1
        img = (rng.random((32,32,3))*100 + m[...,None]*150).astype(np.uint8)
        PILImage.create(img).save(path/'images'/f'{i}.png'); PILMask.create(m).save(path/'labels'/f'{i}.png')
    return SegmentationDataLoaders.from_label_func(path, get_image_files(path/'images'), lambda o: o.parent.parent/'labels'/o.name,
                                                   codes=CODES, bs=4, seed=0, device='cpu')

def _unet_cases():
    "The registry's first case of each loss and mask format that `SegmentationDataLoaders` gives: images and integer masks"
    seen = {}
    for c in CASES:
        if c.kind in ('seg','segb') and c.spatial==2 and not c.soft: seen.setdefault((type(c.make()), c.kind), c)
    return list(seen.values())

@pytest.mark.parametrize('case', _unet_cases(), ids=lambda c: c.id)
def test_unet_learner(seg_dls, tmp_path, case):
    torch.manual_seed(0)
    n_out = 1 if case.kind=='segb' else len(CODES) # one logit, or one per class
    learn = unet_learner(seg_dls, resnet18, pretrained=False, loss_func=case.make(), n_out=n_out, path=tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    with learn.no_bar(): preds,targs,dec,losses = learn.get_preds(with_decoded=True, with_loss=True)
    eq(dec.shape, targs.shape)                    # decodes gives the mask format, (N,H,W)
    eq(losses.shape, (targs.shape[0],))           # one loss per image
    assert torch.isfinite(losses).all()
    learn.export('seg.pkl')
    l2 = load_learner(tmp_path/'seg.pkl')
    eq(type(l2.loss_func), type(learn.loss_func))
    xb = seg_dls.valid.one_batch()[0]
    with learn.no_bar(), l2.no_bar(): close(learn.get_preds(dl=[(xb,)])[0], l2.get_preds(dl=[(xb,)])[0])

@pytest.mark.segmentation
def test_dice_empty_mask_fp16_and_ignore():
    "An empty mask predicted empty is perfect in half precision; ignored pixels change nothing; 3-D volumes work"
    x = torch.full((2,2,64,64,8), -30.).half(); x[:,0] = 30; x.requires_grad_()
    loss = DiceLossFlat()(x, torch.zeros(2,64,64,8, dtype=torch.long))
    loss.backward()
    close(loss.item(), 0, eps=1e-6); assert torch.isfinite(x.grad).all()
    x,t = torch.randn(2,3,16,16),torch.randint(0, 3, (2,16,16))
    t2 = t.clone(); t2[:, :4] = 255; x2 = x.clone(); x2[:, :, :4] = 50*torch.randn(2,3,4,16)
    for make in loss_classes(by_family('segmentation')):
        if getattr(make(), 'mode', 'multiclass')!='multiclass': continue # sigmoid-only (Lovász hinge): no class masks
        # distance maps and skeletons read the whole mask's geometry, so a cropped mask is another input, not the same one
        if make.__name__ in ('BoundaryLossFlat', 'HausdorffDTLossFlat', 'ClDiceLossFlat'): continue
        close(make(ignore_index=255)(x2, t2), make(ignore_index=255)(x[:, :, 4:], t[:, 4:]))

def _digits(img=False):
    from sklearn.datasets import load_digits
    X,y = load_digits(return_X_y=True)
    X,y = torch.tensor(X/16., dtype=torch.float32),torch.tensor(y)
    if img: X = X.view(-1, 1, 8, 8)
    return Datasets(list(zip(X, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(0.2, seed=0)(range(len(y)))).dataloaders(bs=64, device='cpu')

def _mlp(h): return nn.Sequential(nn.Flatten(), nn.Linear(64, h), nn.ReLU(), nn.Linear(h, 10))

@pytest.mark.distribution
@pytest.mark.parametrize('cb', [MixUp, CutMix])
def test_soft_target_mixup_cutmix(cb):
    lf = SoftTargetCrossEntropyFlat()
    torch.manual_seed(0)
    learn = Learner(_digits(img=True), _mlp(64), loss_func=lf, metrics=error_rate, cbs=cb())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 1e-2); err = learn.validate()[1]
    assert learn.loss_func is lf       # MixHandler swapped its mixing loss in and back out
    assert err < 0.15, err

@pytest.mark.distribution
def test_distillation_learner(tmp_path):
    dls = _digits()
    torch.manual_seed(0); teacher = _mlp(128)
    tl = Learner(dls, teacher, loss_func=CrossEntropyLossFlat(), metrics=error_rate)
    with tl.no_bar(), tl.no_logging(): tl.fit_one_cycle(3, 1e-2)
    lf = DistillationLoss(teacher, alpha=0.7, temperature=2.)
    learn = Learner(dls, _mlp(16), loss_func=lf, metrics=error_rate, path=tmp_path)
    with learn.no_bar(), learn.no_logging(): fails(lambda: learn.fit(1), contains="add `DistillationCallback()`")
    learn = Learner(dls, _mlp(16), loss_func=lf, metrics=error_rate, cbs=DistillationCallback(), path=tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(10, 1e-2)
    with learn.no_bar(): preds,targs,dec,losses = learn.get_preds(with_decoded=True, with_loss=True)
    eq(dec, preds.argmax(1)); eq(losses.shape, targs.shape)
    assert (dec!=targs).float().mean() < 0.15
    assert not teacher.training        # run in eval mode
    learn.export('d.pkl')
    l2 = load_learner(tmp_path/'d.pkl')
    eq(l2.loss_func.teacher_out, None); eq(type(l2.loss_func.teacher), nn.Sequential)

@pytest.mark.combination
def test_combined_components_logged():
    dls = _digits()
    torch.manual_seed(0)
    learn = Learner(dls, _mlp(32), loss_func=0.7*FocalLossFlat() + 0.3*LabelSmoothingCrossEntropyFlat(), metrics=accuracy, cbs=LossMetricLogger())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    df = learn.loss_metric_logger.df
    assert {'loss_FocalLossFlat','loss_LabelSmoothingCrossEntropyFlat'} <= set(df.columns)
    close(df.loss.values, 0.7*df.loss_FocalLossFlat.values + 0.3*df.loss_LabelSmoothingCrossEntropyFlat.values, eps=1e-4)
