"`loss_find`: successive halving over (loss x seed) runs, its intervals, verdict and budget, and `fastai-losses find`"
import math, time, subprocess, pytest, numpy as np, pandas as pd
import torch.nn.functional as F
from scipy import stats
from fastai_losses.all import *
from fastai_losses.lab.data import *
from fastai_losses.lab.find import *
from fastai_losses.lab.find import _rank, _plan, _rungs
from fastcore.test import test_eq as eq, test_close as close # after the star imports: fastai's `eq` asserts nothing

@pytest.fixture(scope='module')
def dls(): return digits_dls(n_per_class=30, size=16, bs=16)

# eps=1 spreads all of the target evenly: the labels are gone. eps=0.9 and MSE on one-hot targets are not dropped at
# the first rung on this small set: after one epoch their seeds overlap cross-entropy's (error 0.20-0.47 and 0.12-0.35
# against 0.10-0.28 for 3 seeds), and the overlap rule keeps them in
BAD = dict(ce=CrossEntropyLossFlat(), focal=FocalLossFlat(), bad=LabelSmoothingCrossEntropyFlat(eps=1.0))

@pytest.fixture(scope='module')
def with_bad(dls): return loss_find(dls, BAD, seeds=3, epochs=[1, 2], no_bar=True)

def test_bad_candidate_is_dropped_in_the_first_rung(with_bad):
    t = with_bad.table.set_index('loss')
    eq(t.loc['bad', 'dropped_at'], 0.); eq(t.loc['bad', 'epochs'], 1)
    assert t.loc[['ce', 'focal'], 'dropped_at'].isna().all(); eq(list(t.loc[['ce', 'focal'], 'epochs']), [2, 2])
    eq(with_bad.ranking[-1], ['bad'])
    # the run table: every seed of every loss at rung 0, and only the survivors at rung 1
    runs = with_bad.runs
    eq(len(runs[runs.rung==0]), 9); eq(set(runs[runs.rung==1].loss), {'ce', 'focal'})

def test_same_seeds_give_the_same_ranking(dls, with_bad):
    again = loss_find(dls, BAD, seeds=3, epochs=[1, 2], no_bar=True)
    eq(again.ranking, with_bad.ranking)
    pd.testing.assert_frame_equal(again.runs.drop(columns='spent'), with_bad.runs.drop(columns='spent'))

def test_identical_candidates_cannot_be_told_apart(dls):
    res = loss_find(dls, dict(a=CrossEntropyLossFlat(), b=CrossEntropyLossFlat()), seeds=2, epochs=[1], no_bar=True)
    eq(res.ranking, [['a', 'b']])
    assert "a and b cannot be told apart on this data at this budget" in repr(res), repr(res)
    # the same seed gives the same run: every paired difference is 0
    t = res.table.set_index('loss'); eq(list(t.loc['b', ['diff', 'ci_low', 'ci_high']]), [0., 0., 0.])

def test_budget_holds():
    budget,dls = 60,digits_dls(n_per_class=10, size=16, bs=16)
    t0 = time.time(); res = loss_find(dls, 'ce,focal', budget=budget, seeds=2, no_bar=True); wall = time.time()-t0
    assert wall<=1.3*budget, f"{wall:.1f} s for a {budget} s budget"
    assert res.seconds<=wall and res.runs.spent.max()<=wall
    assert res.epochs[0]>=1 and res.epochs==sorted(res.epochs)

def test_budget_too_small_says_so(dls):
    with pytest.raises(ValueError, match="is too small: one epoch took"):
        loss_find(dls, 'ce,focal,poly', budget=0.01, seeds=3, no_bar=True)

def test_interval_is_scipy_paired_t():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5):
        a,b = rng.uniform(0, 1, n),rng.uniform(0, 1, n)
        m,lo,hi = paired_interval(a, b)
        ci = stats.ttest_rel(a, b).confidence_interval(0.95)
        close(m, (a-b).mean(), eps=1e-12); close(lo, ci.low, eps=1e-12); close(hi, ci.high, eps=1e-12)
        # and written out: mean difference +- t(0.975, n-1) * sd / sqrt(n)
        d = a-b; h = stats.t.ppf(0.975, n-1)*np.sqrt(((d-d.mean())**2).sum()/(n-1))/math.sqrt(n)
        close((lo, hi), (d.mean()-h, d.mean()+h), eps=1e-12)

def test_table_on_a_constructed_run_table():
    "Per-seed figures chosen by hand: x is 0.05 behind the leader under every seed, y within the noise"
    lead,x,y = [0.10, 0.12, 0.14],[0.15, 0.17, 0.19],[0.13, 0.11, 0.16]
    runs = pd.DataFrame([dict(loss=n, seed=s, rung=0, epochs=1, metric=v, spent=1., dropped_at=float('nan'))
                         for n,vs in (('lead', lead), ('x', x), ('y', y)) for s,v in enumerate(vs)])
    table,ranking = _rank(runs, ['x', 'y', 'lead'], 1)
    eq(list(table.loss), ['lead', 'y', 'x']); eq(ranking, [['lead', 'y'], ['x']])
    t = table.set_index('loss')
    for n,v in (('x', x), ('y', y)):
        ci = stats.ttest_rel(v, lead).confidence_interval(0.95)
        close((t.loc[n, 'ci_low'], t.loc[n, 'ci_high']), (ci.low, ci.high), eps=1e-12)
    close(t.loc['x', 'diff'], 0.05, eps=1e-12); close(t.loc['y', 'spread'], 0.05, eps=1e-12)
    # an accuracy: higher is better, so the order turns
    eq(_rank(runs, ['x', 'y', 'lead'], -1)[1][0][0], 'x')

def test_plan_fits_the_budget():
    eq(_rungs(3), [3, 2, 2]); eq(_rungs(8), [8, 4, 2]); eq(_rungs(16), [16, 8, 4, 2]); eq(_rungs(2), [2, 2, 2])
    n,e0 = _plan(3, 3, 1., 200.) # 3*(3 + 2*1 + 2*2) = 27 epoch-runs per E0
    eq((n, e0), ([3, 2, 2], 7)); eq(_plan(3, 3, 1., 10.)[1], 1)

def test_cli_find_writes_table_plot_and_verdict(tmp_path):
    args = ['--losses', 'ce,focal', '--n-per-class', '10', '--size', '16', '--bs', '16', '--seeds', '2']
    r = subprocess.run(['fastai-losses', 'find', *args, '--budget', '30', '--quiet', '--out', str(tmp_path)],
                       capture_output=True, text=True)
    eq(r.returncode, 0)
    eq(sorted(f.name for f in tmp_path.iterdir()), ['loss_find.csv', 'loss_find.png', 'loss_find_runs.csv'])
    eq(set(pd.read_csv(tmp_path/'loss_find.csv').loss), {'ce', 'focal'})
    last = r.stdout.strip().splitlines()[-1]
    assert "cannot be told apart on this data at this budget" in last or "is best on error_rate" in last, r.stdout

@pytest.mark.parametrize('args,msg', [(['--budget', '0'], "--budget must be positive, got 0"),
                                      (['--losses', 'ce,dice9'], "unknown classification loss dice9")])
def test_cli_find_bad_arguments_exit_2(args, msg):
    r = subprocess.run(['fastai-losses', 'find', *args, '--out', '/tmp/never'], capture_output=True, text=True)
    eq(r.returncode, 2); assert msg in r.stderr, r.stderr
