"""fastai's generic image `show_results` is broken under plum (fastai 2.8.12); ours replaces that method and no other,
and with several targets titles each image with target/prediction per head, in lines that fit"""
import inspect, re, pytest, numpy as np, torch, torch.nn as nn
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from PIL import Image
from plum import Signature
from fastcore.test import test_eq as eq, test_fail
from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, Resize, FuncSplitter, get_image_files
from fastai.torch_core import TensorImage, TensorCategory, TensorMultiCategory, TensorMask
from fastai.learner import Learner
from fastai.interpret import Interpretation
import fastai.vision.learner, fastai.interpret, fastai.callback.progress
from fastai_losses.all import *

def fastai_generic_show_results():
    "fastai's generic image `show_results`, rebuilt from its source in `fastai.vision.learner` (ours took its place)"
    src = inspect.getsource(fastai.vision.learner)
    m = re.search(r"@dispatch\ndef show_results\(x:TensorImage, y, .*?return ctxs\n", src, re.S)
    assert m, "fastai's generic image show_results has changed: check whether ours is still needed"
    ns = dict(vars(fastai.vision.learner)) # its module's names
    exec(m[0].removeprefix('@dispatch\n'), ns)
    f,ns['show_results'] = ns['show_results'],fastai.vision.learner.show_results # the name it calls is plum's `Function`
    return f

def test_fastai_generic_show_results_fails():
    "Fails while fastai calls `show_results[object]`; when this test fails, fastai has fixed it and ours can go"
    f = fastai_generic_show_results()
    x = TensorImage(torch.zeros(3, 8, 8))
    test_fail(lambda: f(x, torch.zeros(2), [], [], ctxs=[None]), contains="'Function' object is not subscriptable",
              exc=TypeError)

def _module(y, f, n): return f.resolve_method(Signature(TensorImage, y, *[object]*(n-2)))[0].__module__

@pytest.mark.parametrize('y', [TensorCategory, TensorMultiCategory, TensorMask, TensorImage])
def test_fastai_methods_stay_fastai(y):
    eq(_module(y, fastai.vision.learner.show_results, 4), 'fastai.vision.learner')

@pytest.mark.parametrize('y', [TensorCategory, TensorMultiCategory, TensorMask])
def test_fastai_plot_top_losses_stay_fastai(y):
    eq(_module(y, fastai.interpret.plot_top_losses, 6), 'fastai.vision.learner')

def test_generic_and_tuple_are_ours():
    for y in (tuple, torch.Tensor): eq(_module(y, fastai.vision.learner.show_results, 4), 'fastai_losses.multitarget')
    eq(_module(tuple, fastai.interpret.plot_top_losses, 6), 'fastai_losses.multitarget')

COLORS = ['american_pit_bull_terrier', 'staffordshire_bull_terrier'] # long labels, as PETS breeds are
SHAPES = ['p', 'q', 'r'] # the labels of the two heads come from each image's number

class Fixed(nn.Module):
    "Two heads that always predict the first colour and the last shape"
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.zeros(1))
    def forward(self, x):
        n = len(x); w = self.w*x.mean()
        return torch.tensor([5., 0.]).repeat(n, 1)+w,torch.tensor([0., 0., 5.]).repeat(n, 1)+w

@pytest.fixture(scope='module')
def learn(tmp_path_factory):
    path = tmp_path_factory.mktemp('imgs'); rng = np.random.default_rng(0)
    for i in range(12): Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path/f'{i}.png')
    db = DataBlock(blocks=(ImageBlock, CategoryBlock, CategoryBlock), n_inp=1, get_items=get_image_files,
                   get_y=[lambda p: COLORS[int(p.stem)%2], lambda p: SHAPES[int(p.stem)%3]],
                   splitter=FuncSplitter(lambda p: int(p.stem)>=8), item_tfms=Resize(16))
    dls = db.dataloaders(path, bs=4, device='cpu')
    return Learner(dls, Fixed(), loss_func=MultiTargetLoss(CrossEntropyLossFlat(), CrossEntropyLossFlat()))

def _expected(learn):
    "target/prediction per head for the validation items in order: the model predicts the first colour and 'r'"
    return [f"{COLORS[int(p.stem)%2]}/{COLORS[0]}\n{SHAPES[int(p.stem)%3]}/r" for p in learn.dls.valid_ds.items]

def _fits(fig, axs):
    "Every title lies inside the figure, clear of every image, of the other titles and of the figure's title"
    fig.canvas.draw(); r = fig.canvas.get_renderer()
    ts,ims = [ax.title.get_window_extent(r) for ax in axs],[ax.get_window_extent(r) for ax in axs]
    sup = fig._suptitle.get_window_extent(r)
    for i,t in enumerate(ts):
        assert fig.bbox.y0<=t.y0 and t.y1<=fig.bbox.y1 and fig.bbox.x0<=t.x0 and t.x1<=fig.bbox.x1, (t, fig.bbox)
        assert not t.overlaps(sup), (t, sup)
        for a in ims: assert not t.overlaps(a), (t, a)
        for u in ts[i+1:]: assert not t.overlaps(u), (t, u)

LAYOUTS = [dict(), dict(nrows=1, figsize=(8, 2.7))] # our default size, and a short strip as the multi_task tutorial asks

@pytest.mark.parametrize('layout', LAYOUTS)
def test_show_results_titles_target_prediction(learn, layout):
    plt.close('all')
    with learn.no_bar(): learn.show_results(shuffle=False, max_n=3, **layout)
    fig = plt.gcf(); axs = [ax for ax in fig.axes if ax.get_title()]
    eq([ax.get_title() for ax in axs], _expected(learn)[:3])
    eq(fig._suptitle.get_text(), 'Target/Prediction')
    for ax,p in zip(axs, learn.dls.valid_ds.items): # green when every head is right
        eq(ax.title.get_color(), 'green' if int(p.stem)%2==0 and int(p.stem)%3==2 else 'red')
    _fits(fig, axs)

@pytest.mark.parametrize('layout', LAYOUTS)
def test_plot_top_losses_titles_target_prediction(learn, layout):
    plt.close('all')
    with learn.no_bar(): interp = Interpretation.from_learner(learn)
    losses,idx = interp.top_losses(3)
    interp.plot_top_losses(3, **layout)
    fig = plt.gcf(); axs = [ax for ax in fig.axes if ax.get_title()]
    exp = _expected(learn)
    eq(plt.gcf()._suptitle.get_text(), 'Target/Prediction, total loss')
    eq([ax.get_title() for ax in axs], [f"{exp[i]}\nloss {l:.2f}" for l,i in zip(losses.tolist(), idx.tolist())])
    _fits(fig, axs)
