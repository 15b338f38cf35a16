"The house: five floors from `core` up to the lab, no import upward and no circle, read from the modules' own imports"
import ast, subprocess, sys
from pathlib import Path
import pytest
import fastai_losses

PKG = Path(fastai_losses.__file__).parent
# Each module's floor; `all` (the star imports users take) stands above the house, `_modidx` is nbdev's index
FLOORS = {
    'core': 1, 'backbones': 1,
    **dict.fromkeys(['regression','classification','multilabel','segmentation','distribution','embedding','generation','margins','ordinal'], 2),
    'multitarget': 3,
    'callback': 4, 'calibration': 4, 'advisor': 4, 'segmetrics': 4, 'retrieval': 4,
    **dict.fromkeys(['lab.data','lab.models','lab.runner','lab.cli','lab.find','lab.retrieve'], 5),
}
TOP = {'all', '__init__', '_modidx', 'lab.__init__'}

def _name(f:Path)->str: return '.'.join(f.relative_to(PKG).with_suffix('').parts)
MODULES = {_name(f): f for f in sorted(PKG.rglob('*.py'))}

def _imports(mod:str)->set:
    "Modules of the package that `mod` imports anywhere in its source (functions included), relative or absolute"
    out,pkg = set(),mod.split('.')[:-1]
    for n in ast.walk(ast.parse(MODULES[mod].read_text())):
        if isinstance(n, ast.ImportFrom):
            base = pkg[:len(pkg)-n.level+1] if n.level else []
            parts = base + (n.module.split('.') if n.module else [])
            if not n.level and (not parts or parts[0]!='fastai_losses'): continue
            if parts and parts[0]=='fastai_losses': parts = parts[1:]
            names = [a.name for a in n.names]
            out |= {'.'.join(parts+[a]) for a in names if '.'.join(parts+[a]) in MODULES} or {'.'.join(parts)}
        elif isinstance(n, ast.Import):
            out |= {a.name.removeprefix('fastai_losses.') for a in n.names if a.name.startswith('fastai_losses.')}
    return {m for m in out if m in MODULES and m!=mod}

GRAPH = {m: _imports(m) for m in MODULES if m not in TOP}

def test_every_module_has_a_floor():
    assert set(GRAPH)==set(FLOORS), f"modules without a floor: {set(GRAPH)-set(FLOORS)}; floors without a module: {set(FLOORS)-set(GRAPH)}"

def test_no_import_runs_up_a_floor():
    up = [(m, i) for m,imps in GRAPH.items() for i in imps if FLOORS[i]>FLOORS[m]]
    assert not up, f"upward imports: {up}"

def test_no_loss_imports_a_tool_or_the_lab():
    bad = [(m, i) for m,imps in GRAPH.items() if FLOORS[m]<=3 for i in imps if FLOORS[i]>=4]
    assert not bad, bad

def test_no_circle():
    state = {}
    def visit(m, path):
        if state.get(m)=='done': return
        assert state.get(m)!='open', f"import circle: {' -> '.join(path+[m])}"
        state[m] = 'open'
        for i in sorted(GRAPH[m]): visit(i, path+[m])
        state[m] = 'done'
    for m in sorted(GRAPH): visit(m, [])

def test_floor_count():
    "Five floors, each with at least one module"
    assert sorted(set(FLOORS.values()))==[1, 2, 3, 4, 5]

def _long_lines(f:Path):
    "Lines over 120 characters, leaving out the `__all__` lists that nbdev-export writes (its own wrap at 120 plus 11 indent)"
    lines,out,in_all = f.read_text().splitlines(),[],False
    for i,l in enumerate(lines, 1):
        if l.startswith('__all__ = ['): in_all = True
        if len(l)>120 and not in_all: out.append(f"{f.relative_to(PKG)}:{i} ({len(l)})")
        if in_all and l.rstrip().endswith(']'): in_all = False
    return out

def test_lines_at_most_120_characters():
    long = [o for m,f in MODULES.items() if m!='_modidx' for o in _long_lines(f)]
    assert not long, f"{len(long)} lines over 120 characters: {long[:20]}"

def test_all_gives_the_runner_and_every_floor_below():
    code = ("from fastai.vision.all import *\nfrom fastai_losses.all import *\n"
            "for n in ('FocalLossFlat','CombinedLoss','MultiTargetLoss','LossMetricLogger','recommend_loss',"
            "'calibration_error','compare_losses','EfficientNetLite0Body','WeightsUnavailable'): assert n in dir(), n\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr[-2000:]

def test_combined_loss_metrics_live_on_the_class():
    "`metrics` is defined on `LossSet` in core, not patched on from a module above: `CombinedLoss` has it with core alone"
    code = ("import sys, torch.nn as nn\nfrom fastai_losses.core import CombinedLoss, LossSet\n"
            "assert 'metrics' in vars(LossSet)\nms = CombinedLoss(nn.MSELoss(), nn.L1Loss()).metrics\n"
            "assert [m.name for m in ms]==['loss_MSELoss', 'loss_L1Loss'], [m.name for m in ms]\n"
            "assert 'fastai_losses.multitarget' not in sys.modules\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr[-2000:]
