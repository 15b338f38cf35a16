"""Embedding cases: (N,4) embeddings and labels of 3 classes, mined in the batch; pairs (N,2,4) and (N,2) with targets ±1.
References: the papers' definitions, anchor by anchor; 'none' is per anchor"""
import torch, torch.nn.functional as F
from fastai_losses.all import *
from .core import family_case, emb_data, pair_data, rank_data, pm1

case = family_case('embedding')

def euclid(a, b): return (a-b).norm()
def cos_dist(a, b): return 1-(a*b).sum()/(a.norm()*b.norm())
def triplet_ref(x, t, m=0.5, mining='batch_hard', dist=euclid):
    "Per anchor: the hardest positive against the hardest negative, or the sum over every (positive, negative) pair"
    out = []
    for a in range(len(t)):
        dp = [dist(x[a], x[p]) for p in range(len(t)) if p!=a and t[p]==t[a]]; dn = [dist(x[a], x[k]) for k in range(len(t)) if t[k]!=t[a]]
        if not dp or not dn: out.append(x.new_zeros(())); continue
        dp,dn = torch.stack(dp),torch.stack(dn)
        out.append(F.relu(dp.max()-dn.min()+m) if mining=='batch_hard' else F.relu(dp[:,None]-dn[None]+m).sum())
    return torch.stack(out)
def triplet_all_ref(x, t): return triplet_ref(x, t, 0.5, 'batch_all')
def triplet_cos_ref(x, t): return triplet_ref(x, t, 0.3, 'batch_hard', cos_dist)
def semihard_ref(x, t, m=0.5, dist=euclid):
    "Per anchor: the sum of d(a,p)-d(a,n)+m over the triplets with 0 < d(a,n)-d(a,p) <= m (Schroff et al. 2015)"
    n = len(t); out = []
    for a in range(n):
        ts = [(dist(x[a], x[p]), dist(x[a], x[k])) for p in range(n) for k in range(n)
              if p!=a and t[p]==t[a] and t[k]!=t[a]]
        out.append(sum((dp-dn+m for dp,dn in ts if 0<dn-dp<=m), x.new_zeros(())))
    return torch.stack(out)
def n_semihard(x, t, dist=euclid):
    n = len(t)
    return torch.tensor(sum(int(0<dist(x[a], x[k])-dist(x[a], x[p])<=0.5) for a in range(n) for p in range(n)
                            for k in range(n) if p!=a and t[p]==t[a] and t[k]!=t[a]))
def n_triplets(t, mining):
    "'mean''s denominator: anchors with a positive and a negative, or every (anchor, positive, negative)"
    same = t[:,None]==t[None]; pos = same.sum(1)-1; neg = (~same).sum(1)
    return ((pos>0)&(neg>0)).sum() if mining=='batch_hard' else (pos*neg).sum()
def n_hard(x, t): return n_triplets(t, 'batch_hard')
def n_all(x, t):  return n_triplets(t, 'batch_all')
def contrastive_ref(x, t, m=1.5, dist=euclid):
    "Per item: half its pairs' terms, so that the items' sum is the sum over pairs"
    n = len(t)
    def pair(i, j): return 0.5*dist(x[i], x[j])**2 if t[i]==t[j] else 0.5*F.relu(m-dist(x[i], x[j]))**2
    return torch.stack([sum(pair(i, j) for j in range(n) if j!=i)/2 if n>1 else x.new_zeros(()) for i in range(n)])
def contrastive_cos_ref(x, t): return contrastive_ref(x, t, 0.8, cos_dist)
def n_pairs(x, t): return len(t)*(len(t)-1)//2
def cosine_ref(x, t, m=0.2):
    a,b = x[:,0],x[:,1]; c = (a*b).sum(1)/(a.norm(dim=1)*b.norm(dim=1))
    return torch.where(t==1, 1-c, F.relu(c-m))
def ranking_ref(x, t): return F.relu(-t*(x[:,0]-x[:,1])+0.3)
def cos_sim(x): return F.normalize(x, dim=1)@F.normalize(x, dim=1).T
def supcon_ref(x, t, tau=0.1):
    "Per anchor: minus the mean log-softmax (over all other items) of its positives; 0 with no positive or no negative"
    s,n = cos_sim(x)/tau,len(t); out = []
    for i in range(n):
        ks = [k for k in range(n) if k!=i]; ps = [p for p in ks if t[p]==t[i]]
        if not ps or all(t[k]==t[0] for k in range(n)): out.append(x.new_zeros(())); continue
        den = torch.stack([s[i,k] for k in ks]).logsumexp(0); out.append(-sum(s[i,p]-den for p in ps)/len(ps))
    return torch.stack(out)
def n_supcon(x, t):
    same = t[:,None]==t[None]; return ((same.sum(1)>1)&(~same).any()).sum()
def ms_ref(x, t, a=2., b=50., lam=0.5):
    s,n = cos_sim(x),len(t); out = []
    for i in range(n):
        ps = [s[i,p] for p in range(n) if p!=i and t[p]==t[i]]; ns = [s[i,k] for k in range(n) if t[k]!=t[i]]
        out.append(torch.log(1+sum(torch.exp(-a*(v-lam)) for v in ps))/a
                   + torch.log(1+sum(torch.exp(b*(v-lam)) for v in ns))/b)
    return torch.stack(out)
def views_data(n, dt, g): return torch.randn(n, 2, 4, dtype=dt, generator=g), torch.randint(0, 3, (n,), generator=g)
def ntxent_ref(x, t, tau=0.07):
    "Per view: the sum over its positives p of -log(e^s_ap / (e^s_ap + sum over its negatives e^s_an))"
    z,l = x.flatten(0, 1),t.repeat_interleave(2); s,n = cos_sim(z)/tau,len(l); out = []
    for a in range(n):
        ns = [s[a,k] for k in range(n) if l[k]!=l[a]]
        if not any(l[k]!=l[0] for k in range(n)): out.append(z.new_zeros(())); continue
        out.append(sum(-(s[a,p]-torch.stack([s[a,p]]+ns).logsumexp(0)) for p in range(n) if p!=a and l[p]==l[a]))
    return torch.stack(out)
def n_ntxent(x, t):
    l = t.repeat_interleave(2); same = l[:,None]==l[None]
    return (same.sum()-len(l))*(~same).any()
def hinge_data(n, dt, g):  return torch.rand(n, 1, dtype=dt, generator=g)*2, pm1(n, g)
def hinge_ref(x, t): return torch.where(t==1, x[:,0], F.relu(1.5-x[:,0]))

CASES = [
    case('TripletLossFlat-batch_hard', lambda: TripletLossFlat(margin=0.5), emb_data, triplet_ref, 'emb', mean_den=n_hard, n_out=4, batchwise=True),
    case('TripletLossFlat-batch_all', lambda: TripletLossFlat(margin=0.5, mining='batch_all'), emb_data, triplet_all_ref, 'emb',
         mean_den=n_all, n_out=4, batchwise=True),
    case('TripletLossFlat-semihard', lambda: TripletLossFlat(margin=0.5, mining='semihard'), emb_data, semihard_ref,
         'emb', mean_den=n_semihard, n_out=4, batchwise=True),
    case('TripletLossFlat-cosine', lambda: TripletLossFlat(margin=0.3, distance='cosine'), emb_data, triplet_cos_ref, 'emb',
         mean_den=n_hard, n_out=4, batchwise=True),
    case('ContrastiveLossFlat', lambda: ContrastiveLossFlat(margin=1.5), emb_data, contrastive_ref, 'emb', mean_den=n_pairs, n_out=4, batchwise=True),
    case('ContrastiveLossFlat-cosine', lambda: ContrastiveLossFlat(margin=0.8, distance='cosine'), emb_data,
         contrastive_cos_ref, 'emb', mean_den=n_pairs, n_out=4, batchwise=True),
    case('CosineEmbeddingLossFlat', lambda: CosineEmbeddingLossFlat(margin=0.2), pair_data, cosine_ref, 'pair', n_out=8,
         tail=lambda: torch.nn.Unflatten(1, (2, 4))),
    case('SupConLossFlat', lambda: SupConLossFlat(), emb_data, supcon_ref, 'emb', mean_den=n_supcon, n_out=4,
         batchwise=True),
    case('MultiSimilarityLossFlat', lambda: MultiSimilarityLossFlat(), emb_data, ms_ref, 'emb', n_out=4,
         batchwise=True),
    case('NTXentLossFlat', lambda: NTXentLossFlat(), views_data, ntxent_ref, 'emb', mean_den=n_ntxent, n_out=8,
         batchwise=True,
         tail=lambda: torch.nn.Unflatten(1, (2, 4))),
    case('HingeEmbeddingLossFlat', lambda: HingeEmbeddingLossFlat(margin=1.5), hinge_data, hinge_ref, 'rank', n_out=1),
    case('MarginRankingLossFlat', lambda: MarginRankingLossFlat(margin=0.3), rank_data, ranking_ref, 'rank', n_out=2),
]
