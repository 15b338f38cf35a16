"The docs build: what `nbdev-proc-nbs` (run by the quarto-ghp3 workflow before Quarto) executes and reads, checked without Quarto"
import ast, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from fastcore.nbio import read_nb
from nbdev.processors import _do_eval

ROOT = Path(__file__).parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)
_DOC_DIRS = {'export','exports','exporti','exec_doc'}

def _imports_only(trees):
    "Top-level imports, or a `with` block (e.g. `warnings.catch_warnings()`) around them"
    def ok(t): return isinstance(t, (ast.Import, ast.ImportFrom)) or (isinstance(t, ast.With) and any(isinstance(b, (ast.Import, ast.ImportFrom)) for b in t.body))
    return all(ok(t) for t in trees)

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_docs_build_runs_only_imports_exports_and_show_doc(nb):
    "nbdev's docs build executes every cell holding an import: such a cell must hold nothing else, or a fit would run (and fail) at docs time"
    for c in read_nb(nb).cells:
        if c.cell_type!='code': continue
        c.directives_ = c.directives
        if not _do_eval(c) or c.directives_.keys() & _DOC_DIRS: continue
        trees = c.parsed_()
        is_show_doc = all(isinstance(t, ast.Expr) and getattr(t.value, 'func', None) is not None and getattr(t.value.func, 'id', '')=='show_doc' for t in trees)
        assert _imports_only(trees) or is_show_doc, f"{nb.name} cell {c.idx_} mixes imports with code; put the imports in a cell of their own:\n{c.source}"

def test_proc_nbs_runs_through(tmp_path):
    "`nbdev-proc-nbs` with `quarto` stubbed out processes every notebook, and the files Quarto reads are there"
    for f in ('pyproject.toml',): shutil.copy(ROOT/f, tmp_path/f)
    for d in ('nbs', 'fastai_losses'): shutil.copytree(ROOT/d, tmp_path/d, ignore=shutil.ignore_patterns('_quarto.yml', 'nbdev.yml', 'sidebar.yml', '.ipynb_checkpoints', '__pycache__'))
    stub = tmp_path/'bin'; stub.mkdir(); (stub/'quarto').write_text('#!/bin/sh\nexit 0\n'); (stub/'quarto').chmod(0o755)
    env = {**os.environ, 'PATH': f"{stub}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(['nbdev-proc-nbs'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode==0, r.stderr[-3000:]
    proc = tmp_path/'_proc'
    test_nbs = {p.relative_to(ROOT/'nbs') for p in NBS}
    assert {p.relative_to(proc) for p in proc.rglob('*.ipynb')} == test_nbs
    for f in ('_quarto.yml', 'nbdev.yml', 'sidebar.yml', 'styles.css'): assert (proc/f).exists(), f
    qy = (proc/'_quarto.yml').read_text()
    assert 'css: styles.css' in qy and 'nbdev.yml' in qy and 'sidebar.yml' in qy
    sidebar = (proc/'sidebar.yml').read_text()
    assert all(str(p) in sidebar for p in test_nbs)
