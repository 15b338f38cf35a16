"`MPerClassDL` batches (digits, synthetic items, PETS); `RecallAtK`/`MAPAtR` against pml's `AccuracyCalculator`"
import os, math
from collections import Counter
from pathlib import Path
import pytest, torch
from fastcore.test import test_eq, test_close, test_fail
from fastai.data.all import DataBlock, TransformBlock, CategoryBlock, IndexSplitter, RandomSplitter, set_seed
from fastai.learner import Learner
from torch import nn
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN, return_results
from pytorch_metric_learning.distances import LpDistance, CosineSimilarity
from fastai_losses.retrieval import *
from fastai_losses.embedding import TripletLossFlat
from fastai_losses.lab.data import PETS_ENV, pets_dls

PETS = os.environ.get(PETS_ENV)
needs_pets = pytest.mark.skipif(not PETS or not Path(PETS).is_dir(), reason=f"no Oxford-IIIT PETS: set ${PETS_ENV}")

def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return torch.tensor(d.data, dtype=torch.float32)/16, [str(t) for t in d.target]

X,Y = _digits()
def get_x(i): return X[i]
def get_y(i): return Y[i]

def digits_dls(bs, m, seed, items=None, **kwargs):
    "Digits as a `DataBlock` with a fixed split: the last 20% validates"
    items = list(range(len(X))) if items is None else items
    cut = int(len(items)*0.8)
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=get_x, get_y=get_y,
                       splitter=IndexSplitter(range(cut, len(items))))
    set_seed(seed)
    return dblock.dataloaders(items, bs=bs, dl_type=MPerClassDL, m=m, device='cpu', **kwargs)

def check_batches(dl, m):
    "Every training batch is full and holds `m` items of each class it holds; returns the batches' items"
    seen = []
    for x,y in dl:
        test_eq(len(y), dl.bs)
        assert set(Counter(y.tolist()).values())=={m}, Counter(y.tolist())
        seen.append(x)
    test_eq(len(seen), len(dl))
    return seen

@pytest.mark.parametrize('m,k', [(2,2), (2,5), (3,3), (4,2), (4,10), (5,4), (8,1)])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_m_per_class_digits(m, k, seed):
    dls = digits_dls(m*k, m, seed)
    check_batches(dls.train, m)

def test_small_classes_sampled_with_replacement():
    "Class '0' keeps 2 items and '1' keeps 3 under m=4: they repeat, and every batch still holds 4 of each class"
    small = [i for i in range(len(X)) if Y[i]=='0'][:2] + [i for i in range(len(X)) if Y[i]=='1'][:3]
    items = small + [i for i in range(len(X)) if Y[i] not in '01'] # the small classes train: the last 20% validates
    dls = digits_dls(8, 4, 0, items=items)
    labs = Counter(dls.train.vocab[l] for l in dls.train.labels)
    test_eq((labs['0'], labs['1']), (2, 3))
    for _ in range(3): check_batches(dls.train, 4)

def test_same_seed_same_batches():
    a,b,c = [[x.sum(1).tolist() for x,_ in digits_dls(12, 3, s).train] for s in (5, 5, 6)]
    test_eq(a, b)
    assert a!=c

def test_epochs_differ_and_cover_the_data():
    dl = digits_dls(20, 4, 0).train
    e1,e2 = [torch.cat([x for x,_ in dl]) for _ in range(2)]
    assert not torch.equal(e1, e2)
    # the sampler covers most of the training items in one epoch (it repeats only to top up groups and refill classes)
    assert len(torch.unique(e1, dim=0))>0.8*len(torch.unique(X[:int(len(X)*0.8)], dim=0))

def test_validation_in_order():
    dls = digits_dls(16, 4, 0, val_bs=50)
    test_eq(type(dls.valid), MPerClassDL)
    test_eq(dls.valid.shuffle, False)
    xs = torch.cat([x for x,_ in dls.valid])
    test_eq(xs, X[int(len(X)*0.8):])

def test_one_batch_n_inp_and_datasets_path():
    dls = digits_dls(16, 4, 0)
    x,y = dls.one_batch()
    test_eq(x.shape, (16, 64)); test_eq(set(Counter(y.tolist()).values()), {4})
    test_eq(dls.n_inp, 1)
    # Datasets.dataloaders(dl_type=...) too, with a synthetic item list
    dsets = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=get_x, get_y=get_y,
                      splitter=RandomSplitter(seed=0)).datasets(list(range(300)))
    dls = dsets.dataloaders(bs=6, dl_type=MPerClassDL, m=3, after_item=None, device='cpu')
    check_batches(dls.train, 3)

def test_bad_settings():
    test_fail(lambda: digits_dls(10, 4, 0), contains='multiple of `m`')
    test_fail(lambda: digits_dls(8, 0, 0), contains='`m` must be a positive int')
    test_fail(lambda: list(digits_dls(44, 4, 0).train), contains='needs 11 classes')

@needs_pets
def test_pets(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    set_seed(0)
    dls = pets_dls(bs=8, size=64, dl_type=MPerClassDL, m=2, num_workers=0, device='cpu')
    test_eq(type(dls.train), MPerClassDL)
    check_batches(dls.train, 2)
    test_eq(dls.n_inp, 1)
    x,y = dls.one_batch(); test_eq(x.shape, (8, 3, 64, 64))
    dls.show_batch(max_n=4)
    items = [i for x in dls.valid for i in x[1].tolist()]
    test_eq(items, [int(dls.valid.dataset[i][1]) for i in range(len(dls.valid.dataset))]) # in order

# --- metrics against pml ---

def stable_knn(distance):
    "pml's `CustomKNN`, ties broken by position (a stable sort) as ours: pml's `topk` leaves their order unspecified"
    def knn(query, k, reference, ref_includes_query=False):
        if ref_includes_query: k += 1
        mat = distance(query.double(), reference.double())
        idx = mat.argsort(dim=1, descending=distance.is_inverted, stable=True)[:, :k]
        return return_results(mat.gather(1, idx), idx, ref_includes_query)
    return knn

def pml_dist(distance): return LpDistance(normalize_embeddings=False) if distance=='euclidean' else CosineSimilarity()

def pml(emb, targ, distance, knn=None):
    knn = knn or CustomKNN(pml_dist(distance))
    ac = AccuracyCalculator(include=('precision_at_1','mean_average_precision_at_r'), knn_func=knn,
                            device=torch.device('cpu'))
    return ac.get_accuracy(emb, targ)

def ours(emb, targ, distance):
    return recall_at_k(emb, targ, distance=distance).item(), map_at_r(emb, targ, distance=distance).item()

def close_or_nan(a, b):
    assert (math.isnan(a) and math.isnan(b)) or abs(a-b)<=1e-6, (a, b)

@pytest.mark.parametrize('distance', ['euclidean', 'cosine'])
@pytest.mark.parametrize('seed', range(10))
def test_metrics_equal_pml_random(distance, seed):
    g = torch.Generator().manual_seed(seed)
    emb,targ = torch.randn(80, 6, generator=g),torch.randint(0, 8, (80,), generator=g)
    targ[:3] = torch.tensor([20, 21, 22]) # three lone classes: R=0, left out by both
    r,a = pml(emb, targ, distance),ours(emb, targ, distance)
    close_or_nan(a[0], r['precision_at_1']); close_or_nan(a[1], r['mean_average_precision_at_r'])

@pytest.mark.parametrize('distance', ['euclidean', 'cosine'])
@pytest.mark.parametrize('seed', range(5))
def test_metrics_equal_pml_with_ties(distance, seed):
    "Exact duplicates: within a class pml's own `CustomKNN` agrees; across classes, with a position tie-break"
    g = torch.Generator().manual_seed(seed)
    base,targ = torch.randn(20, 4, generator=g),torch.randint(0, 5, (20,), generator=g)
    emb,targ = base.repeat(3, 1),targ.repeat(3) # each point three times, same class: ties that change nothing
    r,a = pml(emb, targ, distance),ours(emb, targ, distance)
    close_or_nan(a[0], r['precision_at_1']); close_or_nan(a[1], r['mean_average_precision_at_r'])
    emb = torch.randint(-1, 2, (60, 3), generator=g).float() # 27 distinct points, many ties across classes
    emb[emb.abs().sum(1)==0] = 1. # no zero vector (cosine)
    targ = torch.randint(0, 4, (60,), generator=g)
    r,a = pml(emb, targ, distance, stable_knn(pml_dist(distance))),ours(emb, targ, distance)
    close_or_nan(a[0], r['precision_at_1']); close_or_nan(a[1], r['mean_average_precision_at_r'])

def test_all_lone_is_nan_as_pml():
    emb,targ = torch.randn(5, 3),torch.arange(5)
    r,a = pml(emb, targ, 'euclidean'),ours(emb, targ, 'euclidean')
    assert all(math.isnan(v) for v in (r['precision_at_1'], r['mean_average_precision_at_r'], *a))

def test_recall_at_k_formula():
    "Recall@k by a plain loop: a same-class item among the k nearest others, lone queries left out"
    g = torch.Generator().manual_seed(0)
    emb,targ = torch.randn(50, 5, generator=g, dtype=torch.float64),torch.randint(0, 6, (50,), generator=g)
    d = torch.cdist(emb, emb)
    for k in (1, 3, 10):
        hits,n = 0,0
        for q in range(50):
            others = [j for j in range(50) if j!=q]
            if not any(targ[j]==targ[q] for j in others): continue
            near = sorted(others, key=lambda j: d[q,j].item())[:k]
            hits += any(targ[j]==targ[q] for j in near); n += 1
        test_close(recall_at_k(emb, targ, k).item(), hits/n, eps=1e-12)

def test_metric_bad_input():
    test_fail(lambda: RecallAtK(distance='l2'), contains="expected one of ('euclidean', 'cosine')")
    test_fail(lambda: map_at_r(torch.randn(4), torch.arange(4)), contains='expected embeddings (N,D)')
    test_fail(lambda: map_at_r(torch.randn(4, 2), torch.arange(3)), contains='expected targets (4,)')

def test_metrics_in_learner_fit():
    dls = digits_dls(40, 4, 0)
    learn = Learner(dls, nn.Linear(64, 16), loss_func=TripletLossFlat(), metrics=[RecallAtK(), RecallAtK(3), MAPAtR()])
    learn.fit(1, 1e-2)
    vals = dict(zip(learn.recorder.metric_names[1:-1], learn.recorder.values[-1]))
    emb,targ = learn.get_preds()
    r = pml(emb, targ, 'euclidean')
    test_close(vals['recall_at_1'], r['precision_at_1'], eps=1e-6)
    test_close(vals['map_at_r'], r['mean_average_precision_at_r'], eps=1e-6)
    test_close(vals['recall_at_3'], recall_at_k(emb, targ, 3).item(), eps=1e-6)

def test_metrics_equal_pml_default_faiss():
    "pml's own default (`FaissKNN`, L2) where faiss is installed; elsewhere the tests above use its `knn_func`"
    pytest.importorskip('faiss')
    g = torch.Generator().manual_seed(0)
    emb,targ = torch.randn(100, 8, generator=g),torch.randint(0, 10, (100,), generator=g)
    r = AccuracyCalculator(include=('precision_at_1','mean_average_precision_at_r')).get_accuracy(emb, targ)
    a = ours(emb, targ, 'euclidean')
    close_or_nan(a[0], r['precision_at_1']); close_or_nan(a[1], r['mean_average_precision_at_r'])

# --- what users build: the advisor on an `MPerClassDL` DataBlock, the retrieval lab on PETS, fastai's tensor types ---

def test_advisor_on_m_per_class_datablock():
    "`recommend_loss(..., retrieval=True)` on the DataBlock above: SupCon, and the reason sees the partners"
    from fastai_losses.advisor import recommend_loss
    from fastai_losses.embedding import SupConLossFlat
    from fastai_losses.margins import ArcFaceLossFlat
    dls = digits_dls(40, 4, 0)
    a = recommend_loss(dls, retrieval=True)
    test_eq((a.task, a.rule, type(a.loss)), ('retrieval', 'retrieval', SupConLossFlat))
    assert "come from `MPerClassDL`" in a.reason, a.reason
    x,y = dls.one_batch(); l = a.loss(torch.randn(len(y), 16, requires_grad=True), y)
    assert torch.isfinite(l) and l>0
    a = recommend_loss(dls, emb_dim=16)
    test_eq((type(a.loss), a.loss.centres.shape), (ArcFaceLossFlat, (10, 16)))
    assert torch.isfinite(a.loss(torch.randn(len(y), 16), y))

def test_metrics_on_fastai_tensor_types():
    "A model's output on a `TensorImage` batch is a `TensorImage`; the labels a `TensorCategory`: same figures"
    from fastai.torch_core import TensorImage, TensorCategory
    g = torch.Generator().manual_seed(0)
    e,t = torch.randn(30, 8, generator=g),torch.randint(0, 4, (30,), generator=g)
    for f in (recall_at_k, map_at_r):
        test_eq(f(TensorImage(e), TensorCategory(t), distance='cosine'), f(e, t, distance='cosine'))

@needs_pets
def test_retrieval_lab_on_pets(tmp_path):
    "Unseen breeds only in validation, `m` per breed in training, and one quick run of `compare_retrieval`"
    from fastai_losses.lab.data import pets_retrieval_dls
    from fastai_losses.lab.retrieve import compare_retrieval
    dls = pets_retrieval_dls(size=32, bs=8, m=2, num_workers=0)
    tr,va = {int(y) for _,y in dls.train_ds},{int(y) for _,y in dls.valid_ds}
    test_eq((len(tr), len(va)), (30, 7)); assert not tr&va
    check_batches(dls.train, 2)
    res = compare_retrieval(dls, ['arcface', 'supcon'], seeds=[0], epochs=1, freeze_epochs=0, emb_dim=8,
                            pretrained=False)
    assert res.results[['recall_at_1', 'map_at_r']].apply(lambda c: c.between(0, 1)).all().all()
    test_eq([f.name for f in res.save(tmp_path)], ['results.csv', 'neighbours_arcface.png', 'neighbours_supcon.png'])
    with pytest.raises(ValueError, match="held_out=0"): pets_retrieval_dls(held_out=0)
