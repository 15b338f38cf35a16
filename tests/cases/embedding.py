"""Embedding cases: (N,4) embeddings and labels of 3 classes, mined in the batch; pairs (N,2,4) and (N,2) with targets ±1.
References: the papers' definitions, anchor by anchor; 'none' is per anchor"""
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, emb_data, pair_data, rank_data

case = family_case('embedding')

def dist(a, b): return (a-b).norm()
def triplet_ref(x, t, m=0.5, mining='batch_hard'):
    "Per anchor: the hardest positive against the hardest negative, or the sum over every (positive, negative) pair"
    out = []
    for a in range(len(t)):
        dp = [dist(x[a], x[p]) for p in range(len(t)) if p!=a and t[p]==t[a]]; dn = [dist(x[a], x[k]) for k in range(len(t)) if t[k]!=t[a]]
        if not dp or not dn: out.append(x.new_zeros(())); continue
        dp,dn = torch.stack(dp),torch.stack(dn)
        out.append(F.relu(dp.max()-dn.min()+m) if mining=='batch_hard' else F.relu(dp[:,None]-dn[None]+m).sum())
    return torch.stack(out)
def triplet_all_ref(x, t): return triplet_ref(x, t, 0.5, 'batch_all')
def n_triplets(t, mining):
    "'mean''s denominator: anchors with a positive and a negative, or every (anchor, positive, negative)"
    same = t[:,None]==t[None]; pos = same.sum(1)-1; neg = (~same).sum(1)
    return ((pos>0)&(neg>0)).sum() if mining=='batch_hard' else (pos*neg).sum()
def n_hard(x, t): return n_triplets(t, 'batch_hard')
def n_all(x, t):  return n_triplets(t, 'batch_all')
def contrastive_ref(x, t, m=1.5):
    "Per item: half its pairs' terms, so that the items' sum is the sum over pairs"
    n = len(t)
    def pair(i, j): return 0.5*dist(x[i], x[j])**2 if t[i]==t[j] else 0.5*F.relu(m-dist(x[i], x[j]))**2
    return torch.stack([sum(pair(i, j) for j in range(n) if j!=i)/2 if n>1 else x.new_zeros(()) for i in range(n)])
def n_pairs(x, t): return len(t)*(len(t)-1)//2
def cosine_ref(x, t, m=0.2):
    a,b = x[:,0],x[:,1]; c = (a*b).sum(1)/(a.norm(dim=1)*b.norm(dim=1))
    return torch.where(t==1, 1-c, F.relu(c-m))
def ranking_ref(x, t): return F.relu(-t*(x[:,0]-x[:,1])+0.3)

CASES = [
    case('TripletLossFlat-batch_hard', lambda: TripletLossFlat(margin=0.5), emb_data, triplet_ref, 'emb', mean_den=n_hard, n_out=4, batchwise=True),
    case('TripletLossFlat-batch_all', lambda: TripletLossFlat(margin=0.5, mining='batch_all'), emb_data, triplet_all_ref, 'emb',
         mean_den=n_all, n_out=4, batchwise=True),
    case('ContrastiveLossFlat', lambda: ContrastiveLossFlat(margin=1.5), emb_data, contrastive_ref, 'emb', mean_den=n_pairs, n_out=4, batchwise=True),
    case('CosineEmbeddingLossFlat', lambda: CosineEmbeddingLossFlat(margin=0.2), pair_data, cosine_ref, 'pair', n_out=8,
         tail=lambda: torch.nn.Unflatten(1, (2, 4))),
    case('MarginRankingLossFlat', lambda: MarginRankingLossFlat(margin=0.3), rank_data, ranking_ref, 'rank', n_out=2),
]
