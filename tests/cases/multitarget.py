"""Several outputs and targets: `MultiTargetLoss` over heads that are cases of the other families. Its reference is built from theirs:
Σ w_i·(head i's reference), each head on its own output and target; under 'none', each head's per-item values averaged per item"""
from dataclasses import dataclass
from fastai_losses.all import *
from .core import expected
from . import regression, classification, multilabel, segmentation, distribution, embedding, generation, combination

SINGLE = {c.id: c for f in (regression, classification, multilabel, segmentation, distribution, embedding, generation, combination) for c in f.CASES}

@dataclass
class MultiCase:
    id: str
    heads: tuple   # ids of single-output cases, one per output and target
    weights: tuple # one number per head
    family: str = 'multitarget' # its pytest marker
    def __post_init__(self): self.cases = [SINGLE[h] for h in self.heads]
    def make(self): return MultiTargetLoss(*[c.make() for c in self.cases], weights=list(self.weights))
    def data(self, n, dt, g):
        "(outputs, targets): one tuple entry per head"
        xs,ts = zip(*[c.data(n, dt, g) for c in self.cases]); return xs,ts
    def expected(self, xs, ts, reduction):
        outs = [expected(c, x, t, c.ref(x, t), reduction) for c,x,t in zip(self.cases, xs, ts)]
        if reduction=='none': outs = [o.reshape(xs[0].shape[0], -1).mean(1) for o in outs]
        return sum(w*o for w,o in zip(self.weights, outs))

CASES = [
    MultiCase('Multi-ce+bce',            ('CrossEntropyLossFlat', 'BCEWithLogitsLossFlat'), (1., 0.5)), # a sigmoid head
    MultiCase('Multi-ce+mse+focal',      ('CrossEntropyLossFlat', 'MSELossFlat', 'BinaryFocalLossFlat'), (1., 0.3, 2.)), # three heads
    MultiCase('Multi-combined+ce-ignore',('CombinedLoss-focal+ls', 'CrossEntropyLossFlat-ignore'), (1., 1.)), # a CombinedLoss head
    MultiCase('Multi-label+mask',        ('CrossEntropyLossFlat', 'CombinedLoss-ce+dice'), (1., 0.5)), # an image label and a mask
]
