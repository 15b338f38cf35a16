"Embedding losses against pytorch-metric-learning 2.9, and torch's `nn.HingeEmbeddingLoss`: values and gradients"
import pytest, torch, torch.nn as nn
from fastai_losses.all import *

pml = pytest.importorskip('pytorch_metric_learning.losses')

def labels(kind, n):
    "Labels for an edge case: random, one class, a class with a single item"
    if kind=='random':    return torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(n))
    if kind=='one_class': return torch.zeros(n, dtype=torch.long)
    return torch.cat([torch.tensor([9]), torch.arange(n-1)%3]) # label 9 has a single item

def embeddings(kind, n, d=5):
    if kind=='identical': return torch.ones(n, d, dtype=torch.float64)
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(n+d))

# (our Flat, pml's loss): defaults and a non-default setting each
PAIRS = {
    'supcon':      (lambda: SupConLossFlat(),                      lambda: pml.SupConLoss()),
    'supcon-t0.5': (lambda: SupConLossFlat(temperature=0.5),       lambda: pml.SupConLoss(temperature=0.5)),
    'ms':          (lambda: MultiSimilarityLossFlat(),             lambda: pml.MultiSimilarityLoss()),
    'ms-1-20-0.3': (lambda: MultiSimilarityLossFlat(alpha=1., beta=20., base=0.3),
                    lambda: pml.MultiSimilarityLoss(alpha=1., beta=20., base=0.3)),
}

def value_and_grad(f, x, t):
    x = x.clone().requires_grad_(); loss = f(x, t); loss.backward(); return loss.detach(), x.grad

@pytest.mark.parametrize('emb', ['random', 'identical'])
@pytest.mark.parametrize('lab', ['random', 'one_class', 'singleton'])
@pytest.mark.parametrize('n', [2, 12])
@pytest.mark.parametrize('name', list(PAIRS))
def test_mined_equals_pml(name, n, lab, emb):
    ours,theirs = PAIRS[name]
    x,t = embeddings(emb, n),labels(lab, n)
    v1,g1 = value_and_grad(ours(), x, t)
    v2,g2 = value_and_grad(theirs(), x, t)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0)
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)

@pytest.mark.parametrize('emb', ['random', 'identical'])
@pytest.mark.parametrize('lab', ['ids', 'random', 'one_class'])
@pytest.mark.parametrize('tau', [0.07, 0.5])
def test_ntxent_equals_pml(tau, lab, emb):
    "Our (N,2,D) views with one label per item are pml's 2N embeddings with the label repeated for each view"
    n = 6
    x = embeddings(emb, 2*n).view(n, 2, 5)
    t = torch.arange(n) if lab=='ids' else labels(lab, n)
    v1,g1 = value_and_grad(NTXentLossFlat(temperature=tau), x, t)
    v2,g2 = value_and_grad(lambda x, t: pml.NTXentLoss(temperature=tau)(x.flatten(0, 1), t.repeat_interleave(2)), x, t)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0)
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)

def test_reductions():
    "'sum' sums 'none'; 'mean' divides it by anchors with a positive (SupCon) or positive pairs (NT-Xent), as pml"
    x,t = embeddings('random', 12),labels('singleton', 12)
    for lf,den in [(SupConLossFlat(), (t[:,None]==t[None]).sum(1).gt(1).sum()), (MultiSimilarityLossFlat(), 12)]:
        none = lf.__class__(reduction='none')(x, t)
        torch.testing.assert_close(lf.__class__(reduction='sum')(x, t), none.sum())
        torch.testing.assert_close(lf(x, t), none.sum()/den)
    v,ids = x.view(6, 2, 5),torch.arange(6)
    none = NTXentLossFlat(reduction='none')(v, ids)
    torch.testing.assert_close(NTXentLossFlat()(v, ids), none.sum()/12) # one positive pair per view

def test_supcon_mean_is_pml_avg_non_zero():
    "pml's `AvgNonZeroReducer` averages the anchors whose loss is > 0; ours, the anchors with a positive: equal here"
    x,t = embeddings('random', 12),labels('singleton', 12)
    none = SupConLossFlat(reduction='none')(x, t)
    torch.testing.assert_close(SupConLossFlat()(x, t), none[none>0].mean())

@pytest.mark.parametrize('margin', [1., 0.3])
def test_hinge_equals_torch(margin):
    g = torch.Generator().manual_seed(0)
    d,y = torch.rand(4, 6, dtype=torch.float64, generator=g)*2,torch.where(torch.rand(4, 6, generator=g)>0.5, 1, -1)
    for red in ('mean', 'sum', 'none'):
        ours = HingeEmbeddingLossFlat(margin=margin, reduction=red)(d, y)
        theirs = nn.HingeEmbeddingLoss(margin=margin, reduction=red)(d, y.double())
        torch.testing.assert_close(ours, theirs.flatten() if red=='none' else theirs)
    v1,g1 = value_and_grad(HingeEmbeddingLossFlat(margin=margin), d, y)
    v2,g2 = value_and_grad(lambda d, y: nn.HingeEmbeddingLoss(margin=margin)(d, y.double()), d, y)
    torch.testing.assert_close(v1, v2); torch.testing.assert_close(g1, g2)

@pytest.mark.parametrize('emb', ['random', 'identical'])
@pytest.mark.parametrize('lab', ['random', 'one_class', 'singleton'])
@pytest.mark.parametrize('margin', [0.5, 2.])
def test_semihard_equals_pml(margin, lab, emb):
    "pml's `TripletMarginLoss` and `TripletMarginMiner('semihard')` on unnormalised distances (pml normalises)"
    from pytorch_metric_learning import miners, distances
    dist = distances.LpDistance(normalize_embeddings=False)
    loss = pml.TripletMarginLoss(margin=margin, distance=dist)
    miner = miners.TripletMarginMiner(margin, 'semihard', distance=dist)
    x,t = embeddings(emb, 12),labels(lab, 12)
    v1,g1 = value_and_grad(TripletLossFlat(margin=margin, mining='semihard'), x, t)
    v2,g2 = value_and_grad(lambda x, t: loss(x, t, miner(x, t)), x, t)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0)
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)

@pytest.mark.parametrize('emb', ['random', 'identical'])
@pytest.mark.parametrize('lab', ['random', 'one_class', 'singleton'])
@pytest.mark.parametrize('mining', ['semihard', 'batch_all', 'batch_hard'])
@pytest.mark.parametrize('margin', [0.2, 0.5])
def test_cosine_triplet_equals_pml(margin, mining, lab, emb):
    """`distance='cosine'` is pml's `CosineSimilarity`: semi-hard with its default reducer; batch-all (no miner) and
    batch-hard (`BatchHardMiner`) summed, since pml's `AvgNonZeroReducer` counts only the triplets with a loss > 0"""
    from pytorch_metric_learning import miners, distances, reducers
    cs = distances.CosineSimilarity()
    red = None if mining=='semihard' else reducers.SumReducer()
    loss = pml.TripletMarginLoss(margin=margin, distance=cs, **({} if red is None else dict(reducer=red)))
    miner = dict(semihard=miners.TripletMarginMiner(margin, 'semihard', distance=cs),
                 batch_hard=miners.BatchHardMiner(distance=cs)).get(mining)
    x,t = embeddings(emb, 12),labels(lab, 12)
    ours = TripletLossFlat(margin=margin, mining=mining, distance='cosine', reduction='mean' if red is None else 'sum')
    v1,g1 = value_and_grad(ours, x, t)
    v2,g2 = value_and_grad(lambda x, t: loss(x, t, None if miner is None else miner(x, t)), x, t)
    torch.testing.assert_close(v1, v2, atol=1e-6, rtol=0)
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)

def test_cosine_activation():
    "With `distance='cosine'` the loss compares normalised embeddings, and `activation` gives them"
    x = torch.randn(6, 4)*3
    for lf in (TripletLossFlat(distance='cosine'), ContrastiveLossFlat(distance='cosine')):
        torch.testing.assert_close(lf.activation(x).norm(dim=1), torch.ones(6))
        torch.testing.assert_close(lf(x, torch.arange(6)%2), lf(lf.activation(x), torch.arange(6)%2))
    torch.testing.assert_close(TripletLossFlat().activation(x), x)
    with pytest.raises(ValueError, match="distance='cos'; expected one of"): ContrastiveLossFlat(distance='cos')
