"""LossMetricLogger overhead: time of `fit` with the logger divided by time without it, same seed and data, small CNN, CPU.
Runs alternate (without, with, without, with, ...) so that drift in machine load hits both; the ratio of medians is printed.
Usage: python benchmarks/logger_overhead.py [--reps 5] [--epochs 2]"""
import argparse, statistics, time, torch, torch.nn as nn
from sklearn.datasets import load_digits
from fastai.vision.all import Datasets, ItemGetter, RandomSplitter, Learner, accuracy, error_rate, set_seed
from fastai_losses.all import CrossEntropyLossFlat, LossMetricLogger

def learner(cbs):
    set_seed(42, reproducible=True)
    d = load_digits()
    x,y = torch.tensor(d.images, dtype=torch.float32)[:,None]/16,torch.tensor(d.target)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(seed=42)(x))
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32*8*8, 10))
    return Learner(dss.dataloaders(bs=64), model, loss_func=CrossEntropyLossFlat(), metrics=[accuracy, error_rate], cbs=cbs)

def timed(cbs, epochs):
    l = learner(cbs)
    with l.no_bar(), l.no_logging():
        t0 = time.perf_counter(); l.fit(epochs, 1e-3); return time.perf_counter()-t0

if __name__=='__main__':
    p = argparse.ArgumentParser(); p.add_argument('--reps', type=int, default=5); p.add_argument('--epochs', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(1)
    timed([], 1) # warm-up
    base,logged = [],[]
    for _ in range(a.reps): base.append(timed([], a.epochs)); logged.append(timed([LossMetricLogger()], a.epochs))
    r = statistics.median(logged)/statistics.median(base)
    print(f"fit without logger: median {statistics.median(base):.3f}s  with: {statistics.median(logged):.3f}s  (reps={a.reps}, epochs={a.epochs}, 1 thread)")
    print(f"LossMetricLogger overhead ratio (with/without): {r:.3f} (ratio of medians), {min(logged)/min(base):.3f} (ratio of best runs)")
    # the A/B ratio moves by a few percent with machine load; timing the logger's own hooks inside a fit is steadier
    from fastai_losses.callback import LossMetricLogger as LML
    own = [0.]
    def timed_hook(f):
        def g(self, *args, **kw):
            t = time.perf_counter(); r = f(self, *args, **kw); own[0] += time.perf_counter()-t; return r
        return g
    orig = LML.__call__; LML.__call__ = timed_hook(orig)
    shares = []
    for _ in range(3):
        own[0] = 0.; tot = timed([LML()], a.epochs); shares.append(own[0]/tot)
    LML.__call__ = orig
    print(f"time inside the logger's hooks: {100*statistics.median(shares):.1f}% of fit time (median of 3 fits)")
