"CORAL and CORN against coral-pytorch 1.4 (`coral_loss`, `corn_loss`, `CoralLayer`, the label decoders): values and gradients"
import pytest, torch
from fastai_losses.all import *

cp = pytest.importorskip('coral_pytorch')
from coral_pytorch.losses import coral_loss as cp_coral, corn_loss as cp_corn
from coral_pytorch.dataset import levels_from_labelbatch, corn_label_from_logits, proba_to_label
from coral_pytorch.layers import CoralLayer as CPCoralLayer

def data(n, k, kind, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k-1, dtype=torch.float64, generator=g)*3
    t = {'random': torch.randint(0, k, (n,), generator=g), 'lowest': torch.zeros(n, dtype=torch.long),
         'highest': torch.full((n,), k-1)}[kind]
    return x,t

def vg(f, x, t):
    x = x.clone().requires_grad_(); l = f(x, t); l.backward(); return l.detach(),x.grad

@pytest.mark.parametrize('kind', ['random', 'lowest', 'highest'])
@pytest.mark.parametrize('n,k', [(1, 2), (7, 3), (32, 6)])
def test_coral_equals_coral_pytorch(n, k, kind):
    x,t = data(n, k, kind)
    for red in ('mean', 'sum'):
        v1,g1 = vg(CORALLossFlat(reduction=red), x, t)
        v2,g2 = vg(lambda x, t: cp_coral(x, levels_from_labelbatch(t, k).double(), reduction=red), x, t)
        torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0); torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)
    torch.testing.assert_close(CORALLossFlat(reduction='none')(x, t), cp_coral(x, levels_from_labelbatch(t, k).double(),
                                                                                reduction=None))
    lf = CORALLossFlat(); torch.testing.assert_close(lf.decodes(lf.activation(x)), proba_to_label(torch.sigmoid(x)))

@pytest.mark.parametrize('kind', ['random', 'lowest', 'highest'])
@pytest.mark.parametrize('n,k', [(1, 2), (7, 3), (32, 6)])
def test_corn_equals_coral_pytorch(n, k, kind):
    "Every task with no item of rank >= k is skipped by both; 'mean' divides by the (item, task) pairs"
    x,t = data(n, k, kind)
    v1,g1 = vg(CORNLossFlat(), x, t)
    v2,g2 = vg(lambda x, t: cp_corn(x, t, num_classes=k), x, t)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0); torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)
    lf = CORNLossFlat(); torch.testing.assert_close(lf.decodes(lf.activation(x)), corn_label_from_logits(x))

def test_coral_layer_equals_coral_pytorch():
    ours,theirs = CoralLayer(8, 5),CPCoralLayer(8, 5)
    theirs.load_state_dict(ours.state_dict()) # the same names: coral-pytorch's weights load into ours and back
    x = torch.randn(4, 8)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.coral_bias.data, CPCoralLayer(8, 5).coral_bias.data) # the same preset biases

def test_coral_head_in_vision_learner():
    "fastai's `vision_learner` initialises a custom head with `apply_init`: CORAL's layer survives it, its biases kept"
    from fastai.torch_core import apply_init
    h = coral_head(512, 5); apply_init(h, torch.nn.init.kaiming_normal_)
    torch.testing.assert_close(h[-1].coral_bias.data, torch.tensor([1., .75, .5, .25]))
    out = h(torch.randn(2, 512, 3, 3)); assert out.shape==(2, 4)

def test_rank_mae_in_a_learner():
    "`RankMAE` decodes through the learner's loss: CORN's ranks against the targets, by hand"
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    import fastai.callback.progress
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g); t = (x[:,0]*1.5+2).round().clamp(0, 4).long()
    dls = DataLoaders.from_dsets(list(zip(x[:48], t[:48])), list(zip(x[48:], t[48:])), bs=16, device='cpu')
    learn = Learner(dls, torch.nn.Linear(3, 4), loss_func=CORNLossFlat(), metrics=RankMAE())
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-2)
    with learn.no_bar(): _,y,dec = learn.get_preds(with_decoded=True)
    torch.testing.assert_close(torch.tensor(learn.recorder.values[-1][-1]), (dec-y).abs().float().mean())
