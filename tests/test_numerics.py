"Extreme logits give finite losses and gradients: ±1e4 in float32, bfloat16 and float16 (computed in float32, as autocast does)"
import pytest, torch
from registry import CASES, IDS, gen

def _tail(case, x):
    "Logits as the loss sees them: through a sigmoid for a loss on probabilities (fastai's `BCELossFlat`)"
    return torch.sigmoid(x) if case.tail is torch.nn.Sigmoid else x

@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize('scale', [1e4, -1e4, 'mixed'])
def test_extreme_logits_finite(case, dtype, scale):
    x,t = case.data(16, torch.float32, gen(0))
    x = (x.sign()*1e4 if scale=='mixed' else torch.full_like(x, scale)).to(dtype).requires_grad_()
    loss = case.make()(_tail(case, x), t)
    loss.backward()
    if case.kind=='gauss' and dtype==torch.float16:
        assert torch.isfinite(loss)
        pytest.skip("GaussianNLL's gradient (mu-y)/var reaches 1e10 at a residual of 1e4, beyond float16; documented in 01_regression")
    assert torch.isfinite(loss), f"{case.id}: loss {loss} at {scale} in {dtype}"
    assert torch.isfinite(x.grad.float()).all(), f"{case.id}: non-finite gradient at {scale} in {dtype}"

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize('sign', ['pos','neg','mixed'])
def test_largest_finite(case, dtype, sign):
    "The largest finite logits (float16 ±65504, bfloat16 ±3.39e38) give finite losses and gradients; computed in float32, bfloat16 clamped to ±`BF16_CLAMP`"
    x,t = case.data(16, torch.float32, gen(0))
    m = torch.finfo(dtype).max
    x = {'pos': torch.full_like(x, m), 'neg': torch.full_like(x, -m), 'mixed': x.sign()*m}[sign].to(dtype).requires_grad_()
    loss = case.make()(_tail(case, x), t)
    loss.backward()
    if case.kind=='gauss' and dtype==torch.float16: pytest.skip("GaussianNLL's gradient (mu-y)/var overflows float16 far below this; documented in 01_regression")
    assert torch.isfinite(loss), f"{case.id}: loss {loss} at {sign} {dtype} max"
    assert torch.isfinite(x.grad.float()).all(), f"{case.id}: non-finite gradient at {sign} {dtype} max"
