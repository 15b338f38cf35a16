"""Losses under mixed precision on the CPU: torch's bfloat16 autocast, and fastai's own `MixedPrecision` callback pointed at it.
fastai's `to_fp16`/`to_bf16` hard-code CUDA autocast, which is a no-op without a GPU; the CPU's bfloat16 autocast runs the same
flow: the model in bfloat16, `to_float(pred)` in `after_pred`, the loss inside the autocast region."""
import pytest, torch, torch.nn as nn
from torch.amp import autocast, GradScaler
from fastcore.test import test_close as close
from fastai.learner import Learner
from fastcore.foundation import L
from fastai.callback.fp16 import MixedPrecision, AMPMode
import fastai.callback.progress # Learner.no_bar
from registry import CASES, IDS, gen
from test_fastai import _dls, make_model

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=str)
def test_loss_unchanged_under_autocast(case, dtype):
    "Autocast lowers matmuls to bfloat16; a loss that uses one inside must opt out, so its value and gradient match float32"
    x,t = case.data(16, torch.float32, gen(0))
    if case.tail is not torch.nn.Sigmoid: x = x*3 # (probabilities stay in [0, 1]) embeddings of norm ~8: a bfloat16 Gram matrix is about 1 off in squared distance (06_embedding measures it)
    lf = case.make()
    x1 = x.clone().requires_grad_(); l1 = lf(x1, t); l1.backward()
    x2 = x.clone().requires_grad_()
    with autocast('cpu', dtype=dtype): l2 = lf(x2, t)
    l2.backward()
    assert l2.dtype==l1.dtype, f"{case.id}: {l2.dtype} under autocast, {l1.dtype} without"
    close(l2, l1, eps=1e-5)
    close(x2.grad, x1.grad, eps=1e-5)

class CPUMixedPrecision(MixedPrecision):
    "fastai's `MixedPrecision` with the CPU's autocast and GradScaler in place of CUDA's (fp16 keeps loss scaling and skipped steps)"
    def before_fit(self): # fastai's `before_fit` with 'cpu' for 'cuda'
        dt = torch.bfloat16 if self.amp_mode==AMPMode.BF16 else torch.float16
        self.kwargs['enabled'] = dt==torch.float16 # loss scaling for float16 only, as fastai does
        self.autocast,self.learn.scaler,self.scales = autocast('cpu', dtype=dt),GradScaler('cpu', **self.kwargs),L()
    def after_fit(self): self.steps = len(self.scales); super().after_fit()

@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_fit_under_mixed_precision(case, amp, tmp_path):
    "fit and get_preds with the model in half precision give finite losses and a lower loss"
    torch.manual_seed(0)
    l = Learner(_dls(case), make_model(case), loss_func=case.make(), path=tmp_path, cbs=CPUMixedPrecision(amp_mode=amp))
    seen,dt = [],{'bf16': torch.bfloat16, 'fp16': torch.float16}[amp]
    orig = l.model.forward
    l.model.forward = lambda *a: seen.append(out:=orig(*a)) or out
    with l.no_bar(), l.no_logging(): l.fit(2, 1e-2)
    assert seen and all(o.dtype==dt for o in seen), f"{case.id}: the model did not run in {amp}"
    vals = torch.tensor([v[:2] for v in l.recorder.values])
    assert torch.isfinite(vals).all(), f"{case.id}: {vals}"
    assert vals[-1,1] < vals[0,0]*1.5
    n_steps = 2*len(l.dls.train)
    if amp=='fp16' and case.id.startswith('PerceptualLoss'): # PerceptualLoss's gradient per pixel of a 5x5 image is ~1e3-6e4 (5 to 11 at 64 px): times the initial
        assert l.cpu_mixed_precision.steps < n_steps # scale 2**16 it overflows float16, so GradScaler skips steps and lowers its scale (07_generation)
    elif amp=='fp16' and case.id.endswith(('ArcFaceLossFlat','CosFaceLossFlat')): # scale·∂cos/∂x = 64/|x| per item (|x|≈0.5 here), times 2**16,
        assert l.cpu_mixed_precision.steps>=1 # overflows float16: GradScaler halves its scale over the first few steps, as designed (06a_margins)
    elif amp=='fp16': assert l.cpu_mixed_precision.steps > n_steps//2, f"{case.id}: the GradScaler skipped {n_steps-l.cpu_mixed_precision.steps} of {n_steps} steps"
    with l.no_bar(): preds,targs,dec,losses = l.get_preds(with_decoded=True, with_loss=True)
    assert torch.isfinite(losses).all() and len(losses)==32
