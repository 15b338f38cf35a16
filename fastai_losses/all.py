"`from fastai_losses.all import *`: every loss and tool, `compare_losses`, `loss_find` (as fastai's `vision/all.py`)"
# Floor by floor, from the ground up (the architecture section of `index`): no module imports one on a floor above it
from .core import *
from .backbones import *
from .regression import *
from .classification import *
from .ordinal import *
from .multilabel import *
from .segmentation import *
from .distribution import *
from .embedding import *
from .margins import *
from .generation import *
from .multitarget import *
from .callback import *
from .calibration import *
from .advisor import *
from .segmetrics import *
from .retrieval import *
from .lab.runner import *
from .lab.find import *
# Every name that fastai's star imports also define keeps fastai's meaning (its positional order, defaults,
# `activation`/`decodes`). fastai's `DiceLoss(axis=1, smooth=1e-6, reduction='sum')` scores each image and class and
# sums them; ours (`fastai_losses.segmentation.DiceLoss`) is another loss, so it stays out of here. Use `DiceLossFlat`.
del DiceLoss
