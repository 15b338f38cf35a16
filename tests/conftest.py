import os, pytest
from hypothesis import settings
settings.register_profile('ci', max_examples=25, deadline=None)
settings.register_profile('thorough', max_examples=300, deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))

from registry import CASES, IDS
@pytest.fixture(params=CASES, ids=IDS)
def case(request): return request.param

def pytest_pycollect_makeitem(collector, name, obj):
    "`from fastai.vision.all import *` brings `test_eq`, `test_fail`, `test_set`...: imported functions are helpers, not tests"
    import inspect
    if name.startswith('test') and inspect.isfunction(obj) and obj.__module__!=collector.obj.__name__: return []
