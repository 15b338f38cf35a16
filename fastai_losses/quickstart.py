"""The README's main job until `fastai-losses compare` lands (issue 5): compare losses on scikit-learn's handwritten digits
(real data that ships with a fastai dependency, so nothing is downloaded), with `LossMetricLogger` attached to every run.
Writes `results.csv`, `per_batch.csv` and one loss-against-accuracy plot per loss to `--out`."""
import argparse, time
from pathlib import Path
import pandas as pd, torch, torch.nn as nn
import matplotlib; matplotlib.use('Agg')
from sklearn.datasets import load_digits
from fastai.vision.all import Datasets, ItemGetter, RandomSplitter, Learner, accuracy, set_seed
from fastai_losses.all import *

LOSSES = dict(ce=CrossEntropyLossFlat, focal=FocalLossFlat, ls=LabelSmoothingCrossEntropyFlat, poly=PolyLossFlat)

def digits_learner(loss_func, seed=42, bs=64):
    "A small CNN on the 1,797 8x8 digits, 20% held out"
    set_seed(seed, reproducible=True)
    d = load_digits()
    x,y = torch.tensor(d.images, dtype=torch.float32)[:,None]/16,torch.tensor(d.target)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(seed=seed)(x))
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16*8*8, 10))
    return Learner(dss.dataloaders(bs=bs), model, loss_func=loss_func, metrics=accuracy, cbs=LossMetricLogger())

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--losses', default='ce,focal,ls,poly', help=f"comma-separated, from {','.join(LOSSES)}")
    p.add_argument('--epochs', type=int, default=3); p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--seed', type=int, default=42); p.add_argument('--out', default='out')
    a = p.parse_args(argv)
    names = a.losses.split(',')
    bad = [n for n in names if n not in LOSSES]
    if bad: p.exit(2, f"unknown loss {', '.join(bad)}; valid choices: {', '.join(LOSSES)}\n")
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    res,logs = [],[]
    for n in names:
        learn = digits_learner(LOSSES[n](), seed=a.seed)
        t0 = time.time(); learn.fit_one_cycle(a.epochs, a.lr); dt = time.time()-t0
        vl,acc = learn.recorder.values[-1][1:3]
        res.append(dict(loss=n, loss_func=repr(learn.loss_func), valid_loss=vl, accuracy=acc, error_rate=1-acc, seconds=dt))
        logs.append(learn.loss_metric_logger.df.assign(run=n))
        learn.loss_metric_logger.plot('accuracy').savefig(out/f'loss_vs_accuracy_{n}.png', dpi=100)
    res = pd.DataFrame(res); res.to_csv(out/'results.csv', index=False)
    pd.concat(logs).to_csv(out/'per_batch.csv', index=False)
    print(res.to_string(index=False))
    print("Compare the losses on accuracy, not on valid_loss: different losses have different scales for the same predictions.")
    print(f"wrote {out/'results.csv'}, {out/'per_batch.csv'} and {len(names)} plots to {out}/")

if __name__=='__main__': main()
