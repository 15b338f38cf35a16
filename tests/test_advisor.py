"`recommend_loss` on `DataLoaders` built from image files: `MaskBlock` masks and `MultiCategoryBlock` labels"
import numpy as np, pytest, torch
from PIL import Image
from fastcore.test import test_eq as eq, test_close as close
from fastai.vision.all import DataBlock, ImageBlock, MaskBlock, MultiCategoryBlock, Resize, FuncSplitter
from fastai.vision.all import get_image_files
from fastai_losses.all import *
from fastai_losses.advisor import IMBALANCE

def _images(path, n=8, side=24):
    "`n` small RGB PNGs in `path/images`, and for each a mask PNG in `path/masks`: a 3x3 square of class 1 or 2"
    rng = np.random.default_rng(0)
    (path/'images').mkdir(); (path/'masks').mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path/'images'/f'{i}.png')
        m = np.zeros((side, side), dtype=np.uint8); m[2:5, 2:5] = 1 + i%2
        Image.fromarray(m).save(path/'masks'/f'{i}.png')
    return get_image_files(path/'images')

def _valid(p): return int(p.stem)>=6 # items 6 and 7 validate, 0 to 5 train
def _mask(p): return p.parent.parent/'masks'/p.name

def test_maskblock_datablock(tmp_path):
    "fastai's segmentation DataBlock: the labels are `PILMask`s, which the advisor reads from the training batches"
    items = _images(tmp_path)
    db = DataBlock(blocks=(ImageBlock, MaskBlock(codes=['background', 'disc', 'square'])), get_items=lambda p: items,
                   get_y=_mask, splitter=FuncSplitter(_valid), item_tfms=Resize(16))
    dls = db.dataloaders(tmp_path, bs=2, device='cpu')
    a = recommend_loss(dls)
    eq((a.task, a.facts['classes'], a.facts['masks_read']), ('segmentation', 3, 6))
    # 3x3 of 24x24 pixels, resized to 16x16: about 1/64 of the pixels per foreground class, far below 1/(1+IMBALANCE)
    m = torch.stack([dls.train.after_item(dls.train_ds[i])[1] for i in range(6)]) # the same masks, one by one, resized
    share = torch.bincount(m.flatten().long(), minlength=3).double()/m.numel()
    close(torch.tensor(a.facts['pixel_share']), share, eps=1e-5)
    assert a.facts['rarest_foreground'] < 1/(1+IMBALANCE)
    # every disc and square is a component of a few pixels: small objects, the boundary-aware advice (issue 26)
    eq((a.rule, [type(l).__name__ for l in a.loss.losses]),
       ('small objects', ['DiceLossFlat', 'PixelCrossEntropyFlat', 'BoundaryLossFlat']))
    assert a.facts['small_share']==1. and f"{a.facts['components']} foreground components" in a.reason
    xb,yb = dls.one_batch(); l = a.loss(torch.randn(xb.shape[0], 3, *yb.shape[-2:], requires_grad=True), yb)
    l.backward(); assert torch.isfinite(l) # the advised loss runs on this DataBlock's batches

def test_multicategoryblock_datablock(tmp_path):
    "fastai's multi-label DataBlock on image files: 10 labels, one per image"
    items = _images(tmp_path)
    vocab = [f'l{k}' for k in range(10)]
    db = DataBlock(blocks=(ImageBlock, MultiCategoryBlock(vocab=vocab)), get_items=lambda p: items,
                   get_y=lambda p: [f'l{int(p.stem)}'], splitter=FuncSplitter(_valid), item_tfms=Resize(16))
    a = recommend_loss(db.dataloaders(tmp_path, bs=2, device='cpu'))
    eq((a.task, a.facts['items'], a.facts['labels']), ('multi-label', 6, 10))
    close(a.facts['density'], 6/(6*10)) # one positive of ten labels per item
    eq((a.rule, type(a.loss)), ('standard', BCEWithLogitsLossFlat)) # 6 items: too few to measure (fewer than MIN_ITEMS)
    assert "too few" in a.reason
