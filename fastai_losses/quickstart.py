"The README's main job until the comparison CLI lands: fit a small CNN on scikit-learn's digits (no download) with `FocalLossFlat`"
import torch, torch.nn as nn
from sklearn.datasets import load_digits
from fastai.vision.all import Datasets, ItemGetter, RandomSplitter, Learner, accuracy, set_seed
from fastai_losses.all import FocalLossFlat

def main():
    set_seed(42)
    d = load_digits()
    x,y = torch.tensor(d.images, dtype=torch.float32)[:,None]/16,torch.tensor(d.target)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(seed=42)(x))
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16*8*8, 10))
    learn = Learner(dss.dataloaders(bs=64), model, loss_func=FocalLossFlat(gamma=2.), metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)
    print(f"valid accuracy with FocalLossFlat(gamma=2): {learn.validate()[1]:.3f}")

if __name__=='__main__': main()
