# SPDX-License-Identifier: Apache-2.0
import math

import pytest
import torch

from tuss_plugin.layers import ffn_kernels, kernels
from tuss_plugin.layers.attention import RotaryEmbedding
from tuss_plugin.layers.tf_locoformer import RMSGroupNorm, SwiGLUConvDeconv1d, TFLocoformerStack


def test_rms_group_norm_unit_rms():
    norm = RMSGroupNorm(2, 8)
    x = torch.randn(3, 5, 8) * 7
    y = norm(x).view(3, 5, 2, 4)
    rms = y.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-4)


def test_rms_group_norm_rejects_bad_groups():
    with pytest.raises(ValueError):
        RMSGroupNorm(3, 8)


@pytest.mark.parametrize("k", [1, 3, 4])
def test_swiglu_keeps_length_and_is_local(k):
    ffn = SwiGLUConvDeconv1d(6, 10, conv1d_kernel=k)
    x = torch.randn(2, 20, 6)
    y = ffn(x)
    assert y.shape == x.shape
    # receptive field: output t depends on inputs t-(k-1)..t+(k-1)
    x2 = x.clone()
    x2[:, 10] += 1.0
    diff = (ffn(x2) - y).abs().sum((0, 2))
    changed = torch.nonzero(diff > 1e-6).flatten().tolist()
    assert min(changed) >= 10 - (k - 1) and max(changed) <= 10 + (k - 1)


def test_swiglu_rejects_stride():
    with pytest.raises(ValueError):
        SwiGLUConvDeconv1d(4, 8, conv1d_kernel=4, conv1d_shift=2)


def test_rope_interleaved_pairs():
    rope = RotaryEmbedding(4)
    x = torch.zeros(1, 3, 4)
    x[..., 0] = 1.0  # first pair (features 0, 1) at angle pos * 1
    y = rope(x)
    for pos in range(3):
        assert torch.allclose(y[0, pos, :2], torch.tensor([math.cos(pos), math.sin(pos)]), atol=1e-6)
    assert torch.all(y[..., 2:] == 0)
    assert not rope.freqs.requires_grad


def test_rope_relative_positions():
    """q.k after RoPE depends only on the position difference."""
    rope = RotaryEmbedding(8)
    q, k = torch.randn(8), torch.randn(8)
    seq_q = q.expand(6, 8).clone()
    seq_k = k.expand(6, 8).clone()
    rq, rk = rope(seq_q), rope(seq_k)
    assert torch.allclose(rq[1] @ rk[3], rq[2] @ rk[4], atol=1e-5)


@pytest.mark.parametrize("tf_order", ["ft", "tf"])
def test_stack_forward_backward(tf_order):
    ffn = [{"dim_inner": 8, "conv1d_kernel": 3}] * 2
    stack = TFLocoformerStack(2, 8, 2, 8, 2, ffn, ffn, tf_order=tf_order)
    x = torch.randn(2, 8, 7, 5, requires_grad=True)
    y = stack(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # RoPE tables shared by the blocks of one path
    assert stack.blocks[0].freq_path.attn.rope is stack.blocks[1].freq_path.attn.rope


def test_stack_rejects_bad_options():
    ffn = [{"dim_inner": 8}] * 2
    with pytest.raises(ValueError):
        TFLocoformerStack(1, 8, 2, 8, 2, ffn, ffn, tf_order="xy")
    with pytest.raises(ValueError):
        TFLocoformerStack(1, 8, 2, 8, 2, [{"dim_inner": 8, "typo": 1}] * 2, ffn)
    with pytest.raises(ValueError):
        TFLocoformerStack(1, 8, 2, 8, 2, ffn[:1], ffn)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_swiglu_matches_conv_modules(k):
    """The matrix-product formulation equals Conv1d / ConvTranspose1d on the padded input."""
    ffn = SwiGLUConvDeconv1d(6, 10, conv1d_kernel=k)
    x = torch.randn(3, 11, 6, dtype=torch.float64)
    ffn = ffn.double()
    h = torch.nn.functional.pad(x.transpose(1, 2), (k - 1, k - 1))  # (B, C, L + 2k - 2)
    value, gate = ffn.conv1d(h).chunk(2, dim=1)
    ref = ffn.deconv1d(value * torch.nn.functional.silu(gate))[..., k - 1 : k - 1 + 11].transpose(1, 2)
    assert torch.allclose(ffn(x), ref, atol=1e-12)  # autograd on: convolution modules
    with torch.no_grad():
        assert torch.allclose(ffn(x), ref, atol=1e-12)  # matrix-product formulation


@pytest.mark.parametrize("k", [1, 3])
def test_swiglu_without_autograd_over_groups(k, monkeypatch):
    """Inference path: groups share one scratch buffer (the last group is shorter), activation in place."""
    # 2 sequences of 7 (+k-1) per group: 2, 2, 1
    monkeypatch.setattr(kernels.SETTINGS, "ffn_chunk_positions", 20)
    ffn = SwiGLUConvDeconv1d(6, 5, conv1d_kernel=k).double()
    x = torch.randn(5, 7, 6, dtype=torch.float64)
    ref = ffn._forward_conv(x).detach()
    with torch.no_grad():
        y = ffn(x)
    assert torch.allclose(y, ref, atol=1e-12)


def test_attention_of_short_sequences_matches_fused_kernel(monkeypatch):
    """Without autograd, sequences up to ``short_attention_length`` use explicit products:
    same result, same FLOP count."""
    from tuss_plugin.benchmark.profiling import flop_counter
    from tuss_plugin.layers.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(16, 24, 4, RotaryEmbedding(6)).eval()
    x = torch.randn(9, 13, 16)
    out, flops = {}, {}
    for short in (0, 128):
        monkeypatch.setattr(kernels.SETTINGS, "short_attention_length", short)
        with torch.no_grad(), flop_counter() as counter:  # counts the CPU attention kernel
            out[short] = attn(x)
        flops[short] = counter.get_total_flops()
    assert torch.allclose(out[128], out[0], atol=1e-6)
    assert flops[128] == flops[0]
    assert torch.allclose(attn(x), out[0], atol=1e-6)  # autograd on: the fused kernel
    # active attention dropout: the fused kernel, which applies it, also without autograd
    attn.dropout = 0.5
    with torch.no_grad():
        assert not torch.allclose(attn.train()(x), out[0], atol=1e-3)


def test_path_chunking_without_autograd_is_exact(monkeypatch):
    from tuss_plugin.layers.tf_locoformer import LocoformerPath

    ffn = [{"dim_inner": 8, "conv1d_kernel": 3}] * 2
    path = LocoformerPath(8, 2, 8, 2, ffn, RotaryEmbedding(4)).eval()
    monkeypatch.setattr(kernels.SETTINGS, "path_chunk_positions", 10)  # 2 sequences of 5 per chunk
    x = torch.randn(7, 5, 8)
    with torch.no_grad():
        chunked = path(x)
    whole = path(x).detach()  # autograd on: one piece
    assert torch.allclose(chunked, whole, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_swiglu_backward_gradcheck_over_groups(k, monkeypatch):
    """The written-out backward of the FFN is exact (float64), also when sequences run in groups."""
    monkeypatch.setattr(kernels.SETTINGS, "ffn_chunk_positions", 10)  # 5 sequences of 7 (+k-1): 1 per group
    ffn = SwiGLUConvDeconv1d(6, 5, conv1d_kernel=k).double()
    x = torch.randn(5, 7, 6, dtype=torch.float64, requires_grad=True)
    args = (x, ffn.conv1d.weight, ffn.conv1d.bias, ffn.deconv1d.weight, ffn.deconv1d.bias)
    assert torch.autograd.gradcheck(ffn_kernels._SwiGLUFFNFunction.apply, args)


@pytest.mark.parametrize("k", [1, 4])
def test_swiglu_training_path_matches_convolution_autograd(k):
    """Float32 training path (matrix products) against autograd through the convolution modules."""
    torch.manual_seed(0)
    ffn = SwiGLUConvDeconv1d(16, 24, conv1d_kernel=k)
    x = torch.randn(40, 13, 16, requires_grad=True)
    g = torch.randn(40, 13, 16)
    grads = []
    for fwd in (ffn, ffn._forward_conv):
        x.grad = None
        ffn.zero_grad()
        y = fwd(x)
        y.backward(g)
        grads.append([y.detach(), x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()])
    assert ffn(x).grad_fn.name() == "_SwiGLUFFNFunctionBackward"
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * b.abs().max())


def test_swiglu_flop_count_does_not_depend_on_the_formulation():
    """FlopCounterMode (the benchmark's measure) counts the same forward + backward for both paths."""
    from torch.utils.flop_counter import FlopCounterMode

    ffn = SwiGLUConvDeconv1d(8, 12, conv1d_kernel=4)
    x = torch.randn(6, 9, 8, requires_grad=True)
    counts = []
    for fwd in (ffn, ffn._forward_conv):
        counter = FlopCounterMode(display=False)
        with counter:
            fwd(x).sum().backward()
        counts.append(counter.get_total_flops())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        ffn(x)
    assert counts[0] == counts[1] == 3 * counter.get_total_flops()


def test_rms_group_norm_backward_matches_autograd():
    """The written-out backward of RMSGroupNorm: gradcheck (float64) and plain autograd
    (float32, with an all-zero group)."""
    from tuss_plugin.layers.kernels import RMSGroupNormFunction

    x = torch.randn(5, 7, 8, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: RMSGroupNormFunction.apply(a, b, 2, 1e-5), (x, gamma))

    torch.manual_seed(0)
    norm = RMSGroupNorm(4, 16)
    norm.gamma.data = torch.randn(16)
    x = torch.randn(6, 9, 16)
    x[0, 0, :4] = 0.0  # a group with zero norm
    x.requires_grad_(True)
    gy = torch.randn(6, 9, 16)
    grads = []
    for use_module in (True, False):
        x.grad, norm.gamma.grad = None, None
        if use_module:
            y = norm(x)
        else:
            xg = x.view(6, 9, 4, 4)
            y = (xg / (xg.norm(dim=-1, keepdim=True) * 0.5 + norm.eps)).view(6, 9, 16) * norm.gamma
        y.backward(gy)
        grads.append((y.detach(), x.grad.clone(), norm.gamma.grad.clone()))
    for a, b in zip(*grads):
        assert torch.isfinite(a).all()
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rms_group_norm_writes_the_autocast_dtype_for_inference():
    """Without autograd under CPU autocast the norm's result is written in
    bf16 (its consumers are products); its statistics stay float32, so the
    result is the float32 one rounded (the gain adds one rounding at most).
    Elsewhere the result keeps the input's dtype."""
    torch.manual_seed(0)
    norm = RMSGroupNorm(4, 32)
    with torch.no_grad():
        norm.gamma.uniform_(0.5, 2.0)
    x = torch.randn(5, 7, 32) * 30
    with torch.no_grad():
        ref = norm(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = norm(x)
    assert ref.dtype == torch.float32 and y.dtype == torch.bfloat16
    assert torch.allclose(y.float(), ref, rtol=2**-7, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert norm(x).dtype == torch.float32  # under autograd: float32 (the written-out backward)
    assert norm(x.bfloat16()).dtype == torch.bfloat16


def test_stack_under_cpu_bf16_autocast():
    """Mixed precision (the paper's bf16) runs through the convolution path, with and without autograd."""
    torch.manual_seed(0)
    ffn = [{"dim_inner": 16, "conv1d_kernel": 4}] * 2
    stack = TFLocoformerStack(1, 8, 2, 8, 2, ffn, ffn)
    x = torch.randn(1, 8, 6, 5)
    ref = stack(x).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            y0 = stack(x)
        y1 = stack(x)
        y1.float().sum().backward()
    for y in (y0, y1):
        assert torch.isfinite(y).all()
        assert (y.float() - ref).abs().max() < 0.1 * ref.abs().max()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in stack.parameters())


def test_kernel_settings_defaults():
    s = kernels.KernelSettings()
    assert (s.ffn_chunk_positions, s.path_chunk_positions) == (2048, 4096)
    assert (s.short_attention_length, s.decoder_bands_per_product) == (128, 4)


def test_kernel_dispatch_of_norm_and_ffn():
    """Written-out backwards under CPU autograd; the convolution modules under dropout or autocast."""
    torch.manual_seed(0)
    norm, ffn = RMSGroupNorm(2, 8), SwiGLUConvDeconv1d(8, 12, conv1d_kernel=3, dropout=0.1)
    x = torch.randn(4, 6, 8, requires_grad=True)
    assert norm(x).grad_fn.name() == "RMSGroupNormFunctionBackward"
    assert ffn.eval()(x).grad_fn.name() == "_SwiGLUFFNFunctionBackward"
    assert ffn.train()(x).grad_fn.name() != "_SwiGLUFFNFunctionBackward"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ffn.eval()(x).grad_fn.name() != "_SwiGLUFFNFunctionBackward"
    with torch.no_grad():
        assert norm(x).grad_fn is None and ffn(x).grad_fn is None
        assert torch.equal(ffn(x), ffn_kernels._swiglu_ffn(x, *[p for p in ffn.parameters()], keep_h=False)[0])


def test_kernel_dispatch_of_attention(monkeypatch):
    """Explicit products only without autograd and dropout, for sequences up to the threshold."""
    calls = []
    short = kernels._attention_short
    record = lambda q, k, v: calls.append(q.shape[-2]) or short(q, k, v)  # noqa: E731
    monkeypatch.setattr(kernels, "_attention_short", record)
    q, k, v = torch.randn(3, 2, 2, 5, 4).unbind(0)  # each (B', H, L, D)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert torch.equal(kernels.attention(q, k, v), fused)  # autograd on
    with torch.no_grad():
        assert torch.allclose(kernels.attention(q, k, v), fused, atol=1e-6)
        kernels.attention(q, k, v, dropout=0.5)
        monkeypatch.setattr(kernels.SETTINGS, "short_attention_length", 4)
        assert torch.equal(kernels.attention(q, k, v), fused)
    assert calls == [5]


def test_kernel_residual_branches_and_band_groups(monkeypatch):
    x = torch.randn(5, 3, 2)
    ref = x + 2 * x
    ref = ref + (ref + 1)
    seen = []
    branches = (lambda h: seen.append(h.shape[0]) or 2 * h, lambda h: h + 1)
    assert torch.equal(kernels.residual_branches(x, branches), ref) and seen == [5]
    monkeypatch.setattr(kernels.SETTINGS, "path_chunk_positions", 6)  # 2 sequences of 3 per group
    with torch.no_grad():
        assert torch.equal(kernels.residual_branches(x, branches), ref)
    assert seen == [5, 2, 2, 1]

    runs = [(0, 5, 2, 0), (5, 2, 4, 10)]
    assert kernels.band_groups(runs) == runs
    monkeypatch.setattr(kernels.SETTINGS, "decoder_bands_per_product", 2)
    with torch.no_grad():
        groups = kernels.band_groups(runs)
    assert groups == [(0, 2, 2, None), (2, 2, 2, None), (4, 1, 2, None), (5, 2, 4, None)]


def test_layers_take_neither_release_ffn_format_nor_flash_attention():
    """The release's ``{conf: {...}}`` FFN entries are the importer's business (tuss_plugin.convert.release);
    flash_attention is accepted by the separators only."""
    import inspect

    from tuss_plugin.separator.bslocoformer_separator import BSLocoformerSeparator

    ffn = [{"dim_inner": 8}] * 2
    with pytest.raises(ValueError):
        TFLocoformerStack(1, 8, 2, 8, 2, [{"conf": {"dim_inner": 8}}] * 2, ffn)
    assert "flash_attention" not in inspect.signature(TFLocoformerStack).parameters
    sep = BSLocoformerSeparator(
        65,
        num_spk=2,
        fs=8000,
        n_fft=128,
        emb_dim=8,
        num_groups=2,
        first_blocks=1,
        first_attention_dim=8,
        first_n_heads=2,
        first_freq_ffn=ffn,
        first_frame_ffn=ffn,
        second_blocks=0,
        flash_attention=True,
    )
    assert len(sep(torch.randn(1, 3, 65, dtype=torch.complex64), torch.tensor([3]))[0]) == 2
