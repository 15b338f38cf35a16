"Every loss compiles with `torch.compile(fullgraph=True)` (no graph break: no device sync, no `as_subclass` on a plain tensor) and gives its eager value and gradient (kornia tests its losses under dynamo too)"
import pytest, torch
from registry import CASES, IDS, gen

def _compiled(case, reduction, backend):
    x,t = case.data(4, torch.float32, gen(0))
    lf = case.make(); lf.reduction = reduction
    x = x.requires_grad_()
    eager = lf(x, t); g_eager, = torch.autograd.grad(eager.sum(), x)
    torch._dynamo.reset()
    f = torch.compile(lambda a, b: lf(a, b), fullgraph=True, backend=backend)
    comp = f(x, t); g_comp, = torch.autograd.grad(comp.sum(), x)
    return eager,comp,g_eager,g_comp

@pytest.mark.parametrize('reduction', ['mean','none'])
def test_compile_fullgraph(case, reduction):
    "Dynamo captures the whole loss in one graph and AOTAutograd traces its backward (`aot_eager`: the graph, run without code generation)"
    eager,comp,g_eager,g_comp = _compiled(case, reduction, 'aot_eager')
    torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-4, atol=1e-6)

# inductor generates and builds C++ per graph (about 2 s each on 2 cores): one case per loss module
INDUCTOR = ['MSELossFlat', 'QuantileLossFlat', 'GaussianNLLLossFlat', 'FocalLossFlat-alpha-weight-ls', 'BCEWithLogitsLossFlat-pos_weight',
            'AsymmetricLossFlat', 'DiceLossFlat-ignore', 'LovaszSoftmaxLossFlat', 'KLDivLossFlat-T2', 'TripletLossFlat-batch_hard', 'CombinedLoss-ce+dice-vol']
@pytest.mark.parametrize('case', [CASES[IDS.index(i)] for i in INDUCTOR], ids=INDUCTOR) # cases, so that conftest marks their family
def test_compile_inductor(case):
    "The default backend, inductor, gives the eager value and gradient"
    eager,comp,g_eager,g_comp = _compiled(case, 'mean', 'inductor')
    torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-4, atol=1e-5)
