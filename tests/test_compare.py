"Data, `compare_losses` and the `fastai-losses compare` command line, including the pretrained PETS path"
import os, subprocess, sys, pytest, torch, pandas as pd
from pathlib import Path
from fastcore.test import test_eq as eq, test_fail as fails
from fastai.metrics import error_rate
from fastai_losses.all import *
from fastai_losses.lab.data import *
from fastai_losses.lab.models import *
from fastai_losses.lab.runner import *
from fastai_losses.lab.cli import *

PETS = os.environ.get(PETS_ENV)
needs_pets = pytest.mark.skipif(not PETS or not Path(PETS).is_dir(),
    reason=f"no Oxford-IIIT PETS: set ${PETS_ENV} to a local copy (CI uses ../shared/data/pets/oxford-iiit-pet)")

def cli(*args, timeout=600):
    return subprocess.run(['fastai-losses', *args], capture_output=True, text=True, timeout=timeout)

def test_help_lists_every_option_and_loss():
    r = cli('compare', '--help')
    eq(r.returncode, 0)
    for o in ('--data','--losses','--label','--arch','--epochs','--freeze-epochs','--lr','--size','--bs','--n-per-class','--drop','--seed','--out'): assert o in r.stdout, o
    for n in {**named_losses, **seg_losses}: assert n in r.stdout, n

@pytest.mark.parametrize('args,msg', [
    (['--losses', 'ce,dice9'], "unknown classification loss dice9; valid choices: ce, focal, ls, poly"),
    (['--data', '/no/such/folder'], "--data /no/such/folder: no such folder; expected 'digits', 'pets'"),
    (['--epochs', '0'], "--epochs must be positive, got 0"),
    (['--arch', 'vgg'], "invalid choice: 'vgg' (choose from"),
    (['--drop', 'cat'], "--drop 'cat': expected LABEL=SHARE pairs"),
    (['--losses', 'ce,focal,ce'], "loss ce named more than once; each loss runs once per comparison"),
], ids=['loss','path','epochs','arch','drop','repeated'])
def test_bad_arguments_exit_2_with_one_line(args, msg):
    r = cli('compare', *args, '--out', '/tmp/never')
    eq(r.returncode, 2)
    err = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith('usage') and not l.startswith(' ')]
    eq(len(err), 1); assert msg in err[0], r.stderr

def test_cli_digits_writes_table_and_plots(tmp_path):
    r = cli('compare', '--losses', 'ce,focal', '--n-per-class', '40', '--size', '16', '--epochs', '1', '--quiet', '--out', str(tmp_path))
    eq(r.returncode, 0)
    assert 'error_rate' in r.stdout and 'trained from scratch' in r.stdout
    eq(sorted(f.name for f in tmp_path.iterdir()), ['comparison.png','loss_vs_error_rate_ce.png','loss_vs_error_rate_focal.png','per_batch.csv','results.csv'])
    res,pb = pd.read_csv(tmp_path/'results.csv'),pd.read_csv(tmp_path/'per_batch.csv')
    eq(list(res.run), ['ce','focal']); eq(set(pb.run), {'ce','focal'}); eq(set(pb.phase), {'train','valid'})
    # the last line is the verdict: under one seed it names no winner
    eq(r.stdout.strip().splitlines()[-1], "One seed shows no seed spread to judge the gaps by: run seeds=3 or more.")
    assert "one seed cannot decide" in r.stdout

def test_compare_is_deterministic():
    dls = digits_dls(n_per_class=30, size=16)
    r = [compare_losses(dls, 'small_cnn', dict(ce=CrossEntropyLossFlat(), poly=PolyLossFlat()), show_progress=False) for _ in range(2)]
    pd.testing.assert_frame_equal(r[0].results.drop(columns='seconds'), r[1].results.drop(columns='seconds'))
    pd.testing.assert_frame_equal(r[0].logs, r[1].logs)
    # the epoch axis of the comparison plot has whole-number ticks (1, 2, not 1.0, 1.2, ...)
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig = r[0].plot(); ticks = fig.axes[1].get_xticks(); plt.close(fig)
    assert len(ticks) and all(float(t).is_integer() for t in ticks), ticks
    # `small_cnn` has nothing to freeze: the axis does not claim a frozen stage
    eq(fig.axes[1].get_xlabel(), 'epoch'); assert not r[0].logs.frozen.any()

def test_module_arch_and_factories():
    "An `nn.Module` is copied per run (same start for every loss); a factory gets the `DataLoaders`"
    dls = digits_dls(n_per_class=30, size=16)
    m = small_cnn(n_out=10); w0 = m[1][-1].weight.clone()
    r = compare_losses(dls, m, get_losses('ce,cb_focal'), show_progress=False)
    assert torch.equal(m[1][-1].weight, w0)
    lf = named_losses['cb_focal']().from_dls(dls)
    eq(lf.weight.shape, (10,)); assert abs(lf.weight.sum().item()-10)<1e-4 # class-balanced weights sum to the number of classes
    eq(list(r.results.run), ['ce','cb_focal'])

def test_pets_path_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(PETS_ENV, str(tmp_path))
    fails(lambda: pets_path(), contains=f"no PETS images (like Abyssinian_1.jpg) in {tmp_path} (from ${PETS_ENV})")
    fails(lambda: pets_dls(tmp_path/'x'), contains="point $FASTAI_LOSSES_PETS (or --data PATH) at a local copy")

def test_weights_unavailable_is_explicit(monkeypatch):
    "Offline, torchvision's weights cannot download: the error says so and names the offline choice"
    import torchvision.models as tvm
    def no_net(*a, **k): raise OSError("no network")
    monkeypatch.setattr(tvm, 'resnet18', no_net)
    dls = digits_dls(n_per_class=5, size=32)
    fails(lambda: make_learner(dls, 'resnet18', CrossEntropyLossFlat()), contains="could not load resnet18's ImageNet weights")

@needs_pets
def test_pets_labels_and_sample():
    dls = pets_dls(label='breed', size=32, n_per_class=10, num_workers=0)
    eq(len(dls.vocab), 37); eq(len(dls.train_ds)+len(dls.valid_ds), 370)
    dls = pets_dls(label='species', size=32, n_per_class=2, num_workers=0)
    eq(dls.vocab, ['cat','dog'])

@needs_pets
def test_pretrained_cat_vs_dog_error_at_most_010():
    "EfficientNet-Lite0's ImageNet weights, 128 px, fine_tune(1, freeze_epochs=1): the issue's bar is a validation error of 0.10"
    dls = pets_dls(label='species', size=128, bs=16, n_per_class=10, seed=42, stats=arch_stats('efficientnet_lite0'))
    r = compare_losses(dls, 'efficientnet_lite0', dict(ce=CrossEntropyLossFlat()), show_progress=False)
    err = r.results.error_rate.item()
    print(f"cat vs dog valid error: {err:.3f}")
    assert err <= 0.10, err

def test_import_leaves_warning_filters_alone():
    "Importing the library (and the command line's module) changes no warning filter; fastai's `torch.jit.script` FutureWarning is silenced around its import only"
    code = ("import warnings; f = list(warnings.filters)\n"
            "with warnings.catch_warnings(record=True) as ws:\n"
            "    warnings.simplefilter('always')\n"
            "    import fastai_losses.all, fastai_losses.lab.cli\n"
            "assert warnings.filters==f, 'filters changed'\n"
            "assert not [w for w in ws if 'torch.jit.script' in str(w.message)], [str(w.message) for w in ws]\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr

def test_efficientnet_without_the_pets_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite_pytorch', None) # as if the extra were not installed
    fails(lambda: EfficientNetLite0Body(pretrained=False), contains='pip install "fastai-losses[pets]"')

def test_advise_on_a_folder_of_class_subfolders(tmp_path, capsys):
    "`fastai-losses advise --data FOLDER` reads the labels from the folder names (fastai's `from_folder` layout); no image is opened"
    from PIL import Image
    for cls,n in (('cat', 6), ('dog', 90)):
        (tmp_path/cls).mkdir()
        for i in range(n): Image.new('RGB', (8, 8)).save(tmp_path/cls/f'{i}.png')
    adv = run_cli(['advise', '--data', str(tmp_path)])
    out = capsys.readouterr().out
    eq((adv.task, adv.rule), ('single-label', 'imbalanced classes'))
    assert f"imbalance {adv.facts['imbalance']:.1f}:1" in out and 'FocalLossFlat' in out
    with pytest.raises(SystemExit) as e: run_cli(['advise', '--data', str(tmp_path/'nope')])
    eq(e.value.code, 2); assert "no such folder" in capsys.readouterr().err

@pytest.mark.parametrize('classes', [(), ('cat',)], ids=['flat','one-class'])
def test_advise_refuses_a_folder_without_class_subfolders(tmp_path, capsys, classes):
    "Images straight in the folder (or one class subfolder) would be advised for one class, the folder's name: refused"
    from PIL import Image
    for i in range(4): Image.new('RGB', (8, 8)).save(tmp_path/f'{i}.png')
    for c in classes:
        (tmp_path/c).mkdir(); Image.new('RGB', (8, 8)).save(tmp_path/c/'0.png')
    with pytest.raises(SystemExit) as e: run_cli(['advise', '--data', str(tmp_path)])
    err = capsys.readouterr().err
    eq(e.value.code, 2)
    assert "expected a folder with one subfolder of images per class" in err, err
    assert ("one class subfolder (cat)" if classes else "no subfolder of images") in err, err

def test_get_losses_refuses_a_repeated_name():
    fails(lambda: get_losses('ce,ce'), contains="loss ce named more than once")
    eq(list(get_losses(' ce , focal ')), ['ce','focal'])

def test_comparison_plot_marks_the_unfreeze():
    "A frozen stage then an unfrozen one: the axis says so, a dashed line marks the unfreeze, equal dots stay visible"
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    rows = [dict(run=r, phase=ph, step=s, fit=f, epoch=0, bs=4, frozen=f==0, error_rate=0.5)
            for r in ('a','b') for f in (0,1) for ph in ('train','valid') for s in range(4*f, 4*f+4)]
    res = LossComparison(pd.DataFrame(), pd.DataFrame(rows), {}, 'error_rate')
    fig = res.plot(); a1,a2 = fig.axes
    eq(a2.get_xlabel(), 'epoch (frozen, then unfrozen)')
    unf = [l for l in a1.lines if l.get_label()=='unfreeze']
    eq(len(unf), 1); eq(unf[0].get_xdata()[0], 4)
    sizes = [l.get_markersize() for l in a2.lines]; assert sizes[0]>sizes[1], sizes
    plt.close(fig)
