"""One registry of every Flat loss, assembled from one case file per family in `tests/cases/`: a new loss is covered by every suite
in `tests/` by adding one `case(...)` line to its family's file. Each case carries its family, which is also its pytest marker:
`pytest -m segmentation` runs every suite on the segmentation cases (conftest.py adds the markers)"""
import pytest
from cases.core import FAMILIES, Case, expected, gen, N_CLS, S, V, W
from cases import regression, classification, multilabel, segmentation, distribution, embedding, margins, generation, combination, multitarget
from cases.multitarget import MultiCase

FAMILY_FILES = (regression, classification, multilabel, segmentation, distribution, embedding, margins, generation, combination)
CASES = [c for f in FAMILY_FILES for c in f.CASES]
IDS = [c.id for c in CASES]
MULTI_CASES = multitarget.CASES
MULTI_IDS = [c.id for c in MULTI_CASES]
assert len(set(IDS))==len(IDS), "two cases share an id"

def by_family(*families):
    "The cases of `families`, in registry order"
    return [c for c in CASES if c.family in families]

def loss_classes(cases):
    "{loss class: family} for the losses `cases` build, each once, in order of first appearance (calls each case's `make`)"
    out = {}
    for c in cases: out.setdefault(type(c.make()), c.family)
    return out

def family_param(*values, family, id=None):
    "A `pytest.param` carrying `family`'s marker, for a list of losses derived from the registry"
    return pytest.param(*values, marks=getattr(pytest.mark, family), id=id)
