"`from fastai_losses.all import *` gives every loss and helper (hand-written star imports, fastai's `vision/all.py` pattern)"
from .core import *
from .regression import *
from .classification import *
from .multilabel import *
from .segmentation import *
from .distribution import *
from .embedding import *
from .callback import *
