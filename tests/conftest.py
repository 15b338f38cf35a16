import os, pytest
from hypothesis import settings
settings.register_profile('ci', max_examples=25, deadline=None)
settings.register_profile('thorough', max_examples=300, deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))

# fastai's `TfmdDL` starts `defaults.cpus` worker processes per pass over the data unless told otherwise: forking a test
# process that has grown to gigabytes, several times per `Learner`, made the fastai suites most of pytest's time. The
# suites test losses, not fastai's multiprocessing: their loaders run in the main process (a test may still pass
# `num_workers`)
from fastcore.basics import defaults
defaults.cpus = 0

from registry import CASES, IDS, FAMILIES
def pytest_configure(config):
    "Every family is a marker registered in pyproject.toml, so that `--strict-markers` accepts it"
    missing = set(FAMILIES)-{m.split(':')[0].strip() for m in config.getini('markers')}
    if missing: raise pytest.UsageError(f"families with no marker in pyproject.toml's [tool.pytest.ini_options]: {sorted(missing)}")

@pytest.fixture(params=CASES, ids=IDS)
def case(request): return request.param

def pytest_collection_modifyitems(items):
    "A test parametrized over registry cases (`Case`, `MultiCase`) carries its case's family marker: `pytest -m segmentation`"
    for item in items:
        for v in getattr(getattr(item, 'callspec', None), 'params', {}).values():
            if isinstance(getattr(v, 'family', None), str): item.add_marker(v.family)

def pytest_pycollect_makeitem(collector, name, obj):
    "`from fastai.vision.all import *` brings `test_eq`, `test_fail`, `test_set`...: imported functions are helpers, not tests"
    import inspect
    if name.startswith('test') and inspect.isfunction(obj) and obj.__module__!=collector.obj.__name__: return []

# The registry's masks have 3 classes, and on the CPU the multiclass overlap losses switch from autograd's graph to
# their closed form (`_SoftmaxSums`) at `_FUSED_MIN`=5 classes: the suites run the closed form (the path of most users'
# masks, and of every GPU), and `test_closed_form.py::test_softmax_sums` compares it with the graph at 2 to 300 classes
@pytest.fixture(autouse=True)
def fused_softmax_sums(monkeypatch):
    import fastai_losses.segmentation as seg
    monkeypatch.setattr(seg, '_FUSED_MIN', 2)
