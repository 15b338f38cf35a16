"""Margin losses with class centres (ArcFace, CosFace, sub-center ArcFace): (N,4) embeddings and labels, 5 classes (the fastai
suite's labels reach 4). Each case's centres are fixed (`_centres`), and the reference is pytorch-metric-learning 2.9's own loss
with those centres copied into its `W`, per item (`DoNothingReducer`)"""
import torch
from pytorch_metric_learning import losses as pml, reducers
from fastai_losses.all import *
from .core import family_case, emb_data

case = family_case('embedding')
N_CLS,EMB,K = 5,4,3

def _centres(*shape): return torch.randn(*shape, generator=torch.Generator().manual_seed(42))

def _with_centres(lf):
    "`lf` with the fixed centres of its shape, so that the reference can copy the same ones"
    with torch.no_grad(): lf.centres.copy_(_centres(*lf.centres.shape))
    return lf

def _pml_ref(make_pml, shape):
    def ref(x, t):
        l = make_pml(reducer=reducers.DoNothingReducer())
        l.W.data = _centres(*shape).to(x.dtype).reshape(-1, EMB).t().contiguous()
        return l(x, t)['loss']['losses']
    return ref

arcface_ref = _pml_ref(lambda **kw: pml.ArcFaceLoss(N_CLS, EMB, **kw), (N_CLS, EMB))
cosface_ref = _pml_ref(lambda **kw: pml.CosFaceLoss(num_classes=N_CLS, embedding_size=EMB, **kw), (N_CLS, EMB))
subcenter_ref = _pml_ref(lambda **kw: pml.SubCenterArcFaceLoss(num_classes=N_CLS, embedding_size=EMB, sub_centers=K, **kw), (N_CLS, K, EMB))

CASES = [
    case('ArcFaceLossFlat', lambda: _with_centres(ArcFaceLossFlat(N_CLS, EMB)), emb_data, arcface_ref, 'emb', n_out=EMB),
    case('CosFaceLossFlat', lambda: _with_centres(CosFaceLossFlat(N_CLS, EMB)), emb_data, cosface_ref, 'emb', n_out=EMB),
    case('SubCenterArcFaceLossFlat', lambda: _with_centres(SubCenterArcFaceLossFlat(N_CLS, EMB, sub_centres=K)), emb_data, subcenter_ref, 'emb',
         n_out=EMB),
]
