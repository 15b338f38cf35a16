"LossMetricLogger: one row per batch run, under every fastai training pattern, with no host transfer per batch"
import pickle, pytest, torch, torch.nn as nn, numpy as np, pandas as pd
from torch.overrides import TorchFunctionMode
from fastcore.test import test_eq as eq, test_close as close
from fastai.vision.all import *
from fastai.callback.training import GradientAccumulation
from fastai.callback.mixup import MixUp
from fastai_losses.all import *

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
