"LossMetricLogger: one row per batch run, under every fastai training pattern, with no host transfer per batch"
import pickle, pytest, torch, torch.nn as nn, numpy as np, pandas as pd
from torch.overrides import TorchFunctionMode
from fastai.vision.all import *
from fastai.callback.training import GradientAccumulation
from fastai.callback.mixup import MixUp
from fastai_losses.all import *
# after the star imports: fastcore's `eq` (an operator that asserts nothing) would otherwise replace `test_eq`
from fastcore.test import test_eq as eq, test_close as close

def _learner(n=200, bs=16, loss_func=None, metrics=accuracy, cbs=None, n_cls=3, seed=0):
    set_seed(seed, reproducible=True)
    x = torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    y = (x.flatten(1)[:, :n_cls]).argmax(1)
    dss = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(seed=seed)(x))
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, n_cls))
    return Learner(dss.dataloaders(bs=bs), model, loss_func=ifnone(loss_func, CrossEntropyLossFlat()), metrics=metrics, cbs=cbs)

def _n_batches(learn, epochs): return epochs*(len(learn.dls.train)+len(learn.dls.valid))

def _fit(learn, f, *args, **kwargs):
    with learn.no_bar(), learn.no_logging(): getattr(learn, f)(*args, **kwargs)

@pytest.mark.parametrize('how', ['fit', 'fit_one_cycle', 'fine_tune'])
def test_one_row_per_batch(how):
    learn = _learner(cbs=LossMetricLogger())
    learn.splitter = lambda m: [list(m[1].parameters()), list(m[3].parameters())]
    _fit(learn, how, 2, 1e-2)
    n = _n_batches(learn, 3 if how=='fine_tune' else 2)
    eq(len(learn.loss_metric_logger.df), n)
    df = learn.loss_metric_logger.df
    eq(df.step.max(), (3 if how=='fine_tune' else 2)*len(learn.dls.train))
    if how=='fine_tune': eq(df.groupby('fit').frozen.all().tolist(), [True, False])

def test_gradient_accumulation_and_cancel_batch():
    class CancelSome(Callback):
        "Cancels every third training batch before its loss"
        def before_batch(self):
            if self.training and self.iter%3==0: raise CancelBatchException()
    learn = _learner(cbs=[LossMetricLogger(), GradientAccumulation(n_acc=32), CancelSome()])
    _fit(learn, 'fit', 2, 1e-2)
    df = learn.loss_metric_logger.df
    eq(len(df), _n_batches(learn, 2))
    tr = df[df.phase=='train']
    assert tr[tr.iter%3==0].loss.isna().all() and tr[tr.iter%3!=0].loss.notna().all()

def test_mixup_rows():
    learn = _learner(cbs=[LossMetricLogger(), MixUp()])
    _fit(learn, 'fit', 1, 1e-2)
    eq(len(learn.loss_metric_logger.df), _n_batches(learn, 1))

def test_rocauc_single_class_batch_is_nan():
    "RocAuc cannot be computed on a batch with one class: NaN in its column, no crash"
    learn = _learner(n=64, bs=4, n_cls=2, metrics=[accuracy, RocAucBinary()], cbs=LossMetricLogger())
    _fit(learn, 'fit', 1, 1e-2)
    df = learn.loss_metric_logger.df
    assert 'roc_auc_score' in df and df.roc_auc_score.isna().any() and df.roc_auc_score.notna().any()

def test_no_host_transfer_per_batch():
    "after_batch moves nothing to the host: no .item(), .cpu(), .tolist(), .numpy() or bool() on a tensor"
    syncs = {'item','cpu','tolist','numpy','__bool__','__float__','__int__','to'}
    class Count(TorchFunctionMode):
        n = 0
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nm = getattr(func, '__name__', '')
            if nm in syncs and (nm!='to' or 'cpu' in str(args[1:])+str(kwargs)): Count.n += 1
            return func(*args, **(kwargs or {}))
    class Wrapped(LossMetricLogger):
        def after_batch(self):
            with Count(): super().after_batch()
    learn = _learner(cbs=Wrapped(metrics=[accuracy, error_rate, F1Score(average='macro')]))
    _fit(learn, 'fit', 1, 1e-2)
    eq(Count.n, 0)
    assert len(learn.wrapped.df)==_n_batches(learn, 1)
    # the counter does see a host transfer
    with Count(): torch.ones(2).sum().item()
    eq(Count.n, 1)

def test_csv_survives_interrupt(tmp_path):
    class Interrupt(Callback):
        def after_batch(self):
            if self.epoch==1 and self.training and self.iter==2: raise KeyboardInterrupt
    f = tmp_path/'log.csv'
    learn = _learner(cbs=[LossMetricLogger(fname=f), Interrupt()])
    with pytest.raises(KeyboardInterrupt): _fit(learn, 'fit', 3, 1e-2)
    df = pd.read_csv(f)
    eq(len(df), _n_batches(learn, 1))
    eq(df.epoch.unique().tolist(), [0])

def test_recorder_unchanged_and_export(tmp_path):
    def run(cbs):
        l = _learner(metrics=[accuracy], cbs=cbs); _fit(l, 'fit', 2, 1e-2); return l
    a,b = run([]),run([LossMetricLogger(metrics=[accuracy, F1Score(average='macro')])])
    close(a.recorder.values, b.recorder.values)
    close(a.recorder.losses, b.recorder.losses)
    b.path = tmp_path; b.export('e.pkl')
    l2 = load_learner(tmp_path/'e.pkl')
    eq(len(l2.loss_metric_logger.rows), 0)

def test_plot(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    learn = _learner(cbs=LossMetricLogger())
    _fit(learn, 'fit', 1, 1e-2)
    fig = learn.loss_metric_logger.plot()
    ax = fig.axes[0]
    eq(ax.get_ylabel(), 'loss'); eq(fig.axes[1].get_ylabel(), 'accuracy')
    learn.loss_metric_logger.plot(phase='valid')
    with pytest.raises(ValueError, match="no metric 'f1'"): learn.loss_metric_logger.plot('f1')

def test_calibration_error_per_batch():
    "`CalibrationError` reads the loss's `activation` off the learner: the logger gives it the loss, and each batch's ECE is its own"
    learn = _learner(metrics=[accuracy, CalibrationError()], cbs=LossMetricLogger())
    _fit(learn, 'fit', 1, 1e-2)
    df = learn.loss_metric_logger.df
    assert 'ece' in df and df.ece.notna().all() and df.ece.between(0, 1).all()
    b = learn.dls.valid.one_batch()
    with torch.no_grad(): p = learn.model(b[0]).softmax(-1)
    close(df[df.phase=='valid'].ece.iloc[0], calibration_error(p, b[1]).item(), eps=1e-5)

# --- issue 25: MixUp/CutMix swap `learn.loss_func` for their own `lf`, which has no `components` ---
from fastai.callback.mixup import CutMix

class _Heads(nn.Module):
    "A body and one linear head; `tuple_out` gives the head's output as a one-tuple (a `MultiTargetLoss` with one head)"
    def __init__(self, tuple_out=False): super().__init__(); self.body,self.head,self.tuple_out = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU()),nn.Linear(8, 3),tuple_out
    def forward(self, x): o = self.head(self.body(x)); return (o,) if self.tuple_out else o

def _mix_learner(kind, mix):
    set_seed(0, reproducible=True)
    x = torch.randn(96, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = x.flatten(1)[:, :3].argmax(1)
    dls = Datasets(list(zip(x, y)), tfms=[[ItemGetter(0)], [ItemGetter(1)]], splits=RandomSplitter(seed=0)(x)).dataloaders(bs=16, device='cpu')
    comb = FocalLossFlat() + 0.5*LabelSmoothingCrossEntropyFlat()
    # fastai's MixUp/CutMix read `learn.y` as one tensor (`y.size(0)`, `y[shuffle]`), so a multi-target learner under them has one target
    lf = comb if kind=='combined' else MultiTargetLoss(comb, names=['cls'])
    met = accuracy if kind=='combined' else on_output(accuracy, 0, name='accuracy')
    learn = Learner(dls, _Heads(kind!='combined'), loss_func=lf, metrics=[met], cbs=[LossMetricLogger(), mix()])
    learn.recorder.train_metrics = True
    return learn

@pytest.mark.parametrize('kind', ['combined', 'multitarget'])
@pytest.mark.parametrize('mix', [MixUp, CutMix])
def test_mix_keeps_training_loss_and_metrics(mix, kind):
    "Every training row keeps its loss and metric (they were all NaN); a part the mixed loss does not compute is NaN in its column only"
    learn = _mix_learner(kind, mix)
    _fit(learn, 'fit', 1, 1e-2)
    df = learn.loss_metric_logger.df
    eq(len(df), _n_batches(learn, 1))
    tr,va = df[df.phase=='train'],df[df.phase=='valid']
    parts = [c for c in df.columns if c.startswith('loss_')]
    eq(parts, ['loss_FocalLossFlat', 'loss_LabelSmoothingCrossEntropyFlat'] if kind=='combined' else
              ['loss_cls', 'loss_cls_FocalLossFlat', 'loss_cls_LabelSmoothingCrossEntropyFlat'])
    assert tr.loss.notna().all() and tr.accuracy.notna().all() and va[['loss', 'accuracy']+parts].notna().all().all()
    assert tr[parts].isna().all().all() # MixUp's loss mixes two calls of the loss: neither call's parts are the mixed loss's
    # fastai's Recorder (train_metrics=True): the smoothed train loss (`AvgSmoothLoss`, beta 0.98, over every training batch),
    # then train accuracy, valid loss and valid accuracy, each the batch-size-weighted mean
    w = lambda d, c: np.average(d[c], weights=d.bs)
    close([ema_smooth(tr.loss, beta=0.98)[-1], w(tr, 'accuracy'), w(va, 'loss'), w(va, 'accuracy')], learn.recorder.values[-1], eps=1e-5)
    # on validation rows the parts add up to the loss with their weights
    close(va.loss.values, (va[parts[-2]] + 0.5*va[parts[-1]]).values, eps=1e-5)

def test_rows_with_different_parts_keep_their_values():
    "Rows of one epoch that carry different values (parts present on some rows only) are merged by name, not replaced by NaN"
    lg = LossMetricLogger(); lg._mets = []
    t = lambda v: torch.tensor(float(v))
    lg._pending = [dict(fit=1, epoch=0, phase=p, iter=0, step=1, opt_step=1, frozen=False, lr=1e-3, bs=4, _vals=v, _comps=c, _stash=None)
                   for p,v,c in [('train', [t(1)], []), ('valid', [t(2), t(3), t(4)], ['a', 'b']), ('valid', [], [])]]
    lg._flush()
    df = lg.df
    eq(df.loss.tolist()[:2], [1., 2.]); assert np.isnan(df.loss[2])
    eq(df.loss_a.tolist()[1], 3.); eq(df.loss_b.tolist()[1], 4.); assert df.loss_a[[0, 2]].isna().all()

# --- issue 25: optimizer steps under gradient accumulation ---
def test_opt_step_under_gradient_accumulation():
    "`opt_step` counts the optimizer's steps: under `GradientAccumulation(n_acc=32)` with batches of 16, one step per two batches"
    class CountSteps(Callback):
        "Reference: counts the calls to the optimizer's `step` and records the count after each training batch"
        order = LossMetricLogger.order+1
        def before_fit(self):
            self.n,self.seen,step = 0,[],self.learn.opt.step
            def counted(*a, **k): self.n += 1; return step(*a, **k)
            self.learn.opt.step = counted
        def after_batch(self):
            if self.training: self.seen.append(self.n)
    cs = CountSteps()
    learn = _learner(cbs=[LossMetricLogger(), GradientAccumulation(n_acc=32), cs])
    learn.create_opt()
    _fit(learn, 'fit', 2, 1e-2)
    df = learn.loss_metric_logger.df; tr = df[df.phase=='train']
    eq(tr.opt_step.tolist(), cs.seen)
    eq(tr.opt_step.tolist(), (tr.step//2).tolist()) # 10 batches of 16 per epoch
    eq(df[df.phase=='valid'].opt_step.unique().tolist(), [5, 10]) # validation rows carry the count they followed

# --- issue 25: which way is better, for every metric of fastai.metrics and ours ---
import fastai.metrics as fm
from types import SimpleNamespace
from fastai.learner import mk_metric, AvgSmoothLoss
from fastai.torch_core import to_detach

def _cls(c, n=40):
    "Targets with every class; logits that score the target highest (good) or lowest (bad)"
    t = torch.arange(n)%c; oh = F.one_hot(t, c).float()*8
    return (oh, -oh, t)
def _seg(c=2):
    t = (torch.arange(2*6*6).view(2, 6, 6)%c); oh = F.one_hot(t, c).permute(0, 3, 1, 2).float()*8
    return (oh, -oh, t)
_bin = lambda: (torch.linspace(-4, 4, 40).sign()*4, -torch.linspace(-4, 4, 40).sign()*4, (torch.linspace(-4, 4, 40)>0).long())
_multi = lambda: (lambda t: ((t*2-1)*4, -(t*2-1)*4, t))((torch.arange(40*4).view(40, 4)%3==0).long())
_reg = lambda: (lambda t: (t, t.flip(0), t))(torch.linspace(1, 2, 40))
_img = lambda: (lambda t: (t+0.01*torch.randn(t.shape, generator=torch.Generator().manual_seed(0)), 1-t, t))(torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)))
def _tok(v=12):
    t = torch.arange(2*8).view(2, 8)%v; oh = F.one_hot(t, v).float()*8
    return (oh, F.one_hot((t+5)%v, v).float()*8, t)

# each metric of fastai.metrics.__all__: how to build it and a (good prediction, bad prediction, target) from fastai's formats
_METRICS = dict(
    rmse=(lambda: fm.rmse, _reg), exp_rmspe=(lambda: fm.exp_rmspe, _reg), mse=(lambda: fm.mse, _reg), mae=(lambda: fm.mae, _reg),
    msle=(lambda: fm.msle, _reg), ExplainedVariance=(fm.ExplainedVariance, _reg), R2Score=(fm.R2Score, _reg),
    PearsonCorrCoef=(fm.PearsonCorrCoef, _reg), SpearmanCorrCoef=(fm.SpearmanCorrCoef, _reg),
    accuracy=(lambda: fm.accuracy, lambda: _cls(3)), error_rate=(lambda: fm.error_rate, lambda: _cls(3)),
    top_k_accuracy=(lambda: fm.top_k_accuracy, lambda: _cls(10)),
    BalancedAccuracy=(fm.BalancedAccuracy, lambda: _cls(2)), CohenKappa=(fm.CohenKappa, lambda: _cls(2)),
    F1Score=(fm.F1Score, lambda: _cls(2)), FBeta=(lambda: fm.FBeta(2), lambda: _cls(2)), HammingLoss=(fm.HammingLoss, lambda: _cls(2)),
    Jaccard=(fm.Jaccard, lambda: _cls(2)), Precision=(fm.Precision, lambda: _cls(2)), Recall=(fm.Recall, lambda: _cls(2)),
    MatthewsCorrCoef=(fm.MatthewsCorrCoef, lambda: _cls(2)), RocAuc=(fm.RocAuc, lambda: _cls(3)),
    APScoreBinary=(fm.APScoreBinary, lambda: _cls(2)), BrierScore=(fm.BrierScore, lambda: _cls(2)),
    RocAucBinary=(fm.RocAucBinary, lambda: _cls(2)),
    accuracy_multi=(lambda: fm.accuracy_multi, _multi), APScoreMulti=(fm.APScoreMulti, _multi), BrierScoreMulti=(fm.BrierScoreMulti, _multi),
    F1ScoreMulti=(fm.F1ScoreMulti, _multi), FBetaMulti=(lambda: fm.FBetaMulti(2), _multi), HammingLossMulti=(fm.HammingLossMulti, _multi),
    # scikit-learn's `matthews_corrcoef` refuses multi-label targets, so fastai's MatthewsCorrCoefMulti gets one label here
    JaccardMulti=(fm.JaccardMulti, _multi), MatthewsCorrCoefMulti=(fm.MatthewsCorrCoefMulti, _bin),
    PrecisionMulti=(fm.PrecisionMulti, _multi), RecallMulti=(fm.RecallMulti, _multi), RocAucMulti=(fm.RocAucMulti, _multi),
    foreground_acc=(lambda: fm.foreground_acc, lambda: _seg(3)), Dice=(fm.Dice, _seg), DiceMulti=(fm.DiceMulti, lambda: _seg(3)),
    JaccardCoeff=(fm.JaccardCoeff, _seg), JaccardCoeffMulti=(fm.JaccardCoeffMulti, lambda: _seg(3)),
    CorpusBLEUMetric=(lambda: fm.CorpusBLEUMetric(12), _tok),
    Perplexity=(fm.Perplexity, None), perplexity=(lambda: fm.perplexity, None))
# not metrics themselves: a base class, two converters, and loss-attribute readers whose name the user gives (see below)
_NOT_METRICS = {'AccumMetric', 'skm_to_fastai', 'optim_metric', 'LossMetric', 'LossMetrics'}
_OURS = dict(ece=(CalibrationError, lambda: (lambda c: (c[0], torch.roll(c[0], 1, 1), c[2]))(_cls(3))),
             psnr=(lambda: psnr, _img), ssim=(lambda: ssim, _img))

def _value(m, pred, targ, loss=None):
    "fastai's own `accumulate` and `value`, on one batch, from a stand-in for the learner"
    m = mk_metric(m); m.reset()
    m.accumulate(SimpleNamespace(pred=pred, yb=(targ,), y=targ, loss=loss, to_detach=to_detach, training=False,
                                 loss_func=CrossEntropyLossFlat()))
    v = m.value; return float(v.item() if hasattr(v, 'item') else v)

def test_direction_table_covers_fastai_metrics():
    eq(set(fm.__all__) - _NOT_METRICS, set(_METRICS))
    assert {mk_metric(f()).name for f,_ in _METRICS.values()} | set(_OURS) <= set(metric_directions)

@pytest.mark.parametrize('name', list(_METRICS)+list(_OURS))
def test_direction_matches_the_metric(name):
    "The table's direction is the one the metric itself shows: its value on a good prediction against a bad one"
    import warnings; warnings.simplefilter('ignore') # scikit-learn warns about ill-defined scores on the bad predictions
    make,data = {**_METRICS, **_OURS}[name]
    m = mk_metric(make())
    if data is None: good,bad = _value(m, torch.zeros(4), torch.zeros(4), torch.tensor(0.1)),_value(m, torch.zeros(4), torch.zeros(4), torch.tensor(3.))
    else:
        g,b,t = data()
        good,bad = _value(m, g, t),_value(m, b, t)
    assert good!=bad
    eq(metric_directions[m.name], good>bad)

def _valid_log(vals, metric):
    "A constructed log: one validation batch per epoch, with the loss and `metric` given per epoch"
    lg = LossMetricLogger()
    lg.rows = [dict(fit=1, epoch=e, phase='valid', iter=0, step=0, opt_step=0, frozen=False, lr=1e-3, bs=16, loss=l, **{metric: m})
               for e,(l,m) in enumerate(vals)]
    return lg

def test_divergence_reads_lower_is_better_metrics():
    "The loss rises while the ECE worsens (rises): no divergence. With the ECE improving, there is"
    eq(len(_valid_log([(1.0, 0.05), (1.2, 0.08), (1.3, 0.1)], 'ece').divergence()), 0)
    eq(_valid_log([(1.0, 0.1), (1.2, 0.08), (1.3, 0.05)], 'ece').divergence()[['start_epoch', 'end_epoch']].values.tolist(), [[0, 2]])
    for m in ['mae', '_rmse', 'perplexity', 'hamming_loss', 'brier_score_loss']: eq(len(_valid_log([(1.0, 0.1), (1.2, 0.2)], m).divergence()), 0)
    eq(len(_valid_log([(1.0, 0.1), (1.2, 0.2)], 'error_rate_0').divergence()), 0) # `on_output(error_rate, 0)`'s name
    eq(len(_valid_log([(1.0, 0.1), (1.2, 0.2)], 'dice').divergence()), 1)

def test_divergence_unknown_direction_refused():
    lg = _valid_log([(1.0, 0.1), (1.2, 0.2)], 'my_metric')
    with pytest.raises(ValueError, match="higher_is_better="): lg.divergence()
    with pytest.raises(ValueError, match="higher_is_better="): lg.plot('my_metric', phase='valid', divergence=True)
    eq(len(lg.divergence(higher_is_better=True)), 1); eq(len(lg.divergence(higher_is_better=False)), 0)
    import matplotlib; matplotlib.use('Agg')
    lg.plot('my_metric', phase='valid', divergence=True, higher_is_better=True)

def test_divergence_plot_one_legend_entry():
    import matplotlib; matplotlib.use('Agg')
    lg = _valid_log([(1.0, 0.5), (1.1, 0.4), (0.9, 0.3), (1.0, 0.3), (0.8, 0.2), (0.9, 0.1)], 'error_rate')
    eq(len(lg.divergence()), 3)
    fig = lg.plot('error_rate', phase='valid', divergence=True)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    eq(labels.count('valid loss up, metric not worse'), 1)
    eq(len(fig.axes[0].patches), 3) # three shaded stretches

def test_ema_smooth_is_fastais_smooth_loss():
    s = AvgSmoothLoss(beta=0.9); s.reset(); ref = []
    for v in [1., 3., 2., 5.]: s.accumulate(SimpleNamespace(loss=torch.tensor(v))); ref.append(s.value.item())
    close(ema_smooth([1., 3., float('nan'), 2., 5.], beta=0.9)[[0, 1, 3, 4]], ref); close(ema_smooth([1., 3., float('nan')], beta=0.9)[2], ref[1])

def test_gather_one_all_reduce(monkeypatch):
    "Under `distrib_ctx` each epoch costs one all-reduce; a value NaN on every rank stays NaN (two identical ranks here)"
    import torch.distributed as dist
    calls = []
    monkeypatch.setattr(dist, 'all_reduce', lambda t, *a, **k: (calls.append(t.shape), t.mul_(2)))
    mat = torch.tensor([[1., float('nan')], [3., 4.]]); bs = torch.tensor([2., 4.])
    out = LossMetricLogger()._gather(mat, bs)
    eq(len(calls), 1); close(out[:, 0], mat[:, 0]); assert out[0, 1].isnan(); close(out[1, 1], 4.)

def test_plot_calibration_draws_bin_counts():
    "The reliability diagram has the items per confidence bin under it: one bar per bin, the counts of the bins (lo, hi]"
    import matplotlib; matplotlib.use('Agg')
    learn = _learner(); _fit(learn, 'fit', 1, 1e-2)
    fig = plot_calibration(learn, n_bins=10)
    with learn.no_bar(): p,_ = learn.get_preds()
    conf = p.max(1)[0]
    ref = [((conf>b/10) & (conf<=(b+1)/10)).sum().item() for b in range(10)]
    cax = [a for a in fig.axes if a.get_ylabel()=='items']
    eq(len(cax), 1)
    bars = sorted(cax[0].patches, key=lambda r: r.get_x())
    eq([r.get_height() for r in bars], ref)
    eq(sum(ref), len(learn.dls.valid_ds))

def test_opt_step_skips_cancelled_steps():
    "A step cancelled with `CancelStepException` (what fp16's `MixedPrecision` raises on an overflow) is not counted"
    class SkipSome(Callback):
        order = LossMetricLogger.order+1
        def before_fit(self):
            self.n,self.seen,step = 0,[],self.learn.opt.step
            def counted(*a, **k): self.n += 1; return step(*a, **k)
            self.learn.opt.step = counted
        def before_step(self):
            if self.iter%3==0: raise CancelStepException()
        def after_batch(self):
            if self.training: self.seen.append(self.n)
    cb = SkipSome()
    learn = _learner(cbs=[LossMetricLogger(), cb])
    _fit(learn, 'fit', 1, 1e-2)
    tr = learn.loss_metric_logger.df.query("phase=='train'")
    eq(tr.opt_step.tolist(), cb.seen)
    eq(tr.opt_step.iloc[-1], sum(i%3!=0 for i in range(len(tr)))) # 10 batches, steps skipped at 0, 3, 6, 9
