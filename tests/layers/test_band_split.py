# SPDX-License-Identifier: Apache-2.0
import pytest
import torch

from tuss_plugin.layers import kernels
from tuss_plugin.layers.band_split import BandSplitEncoder, BandwiseDecoder, band_widths

RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000]


def test_release_layout_48k():
    w = band_widths(48000, 2048)
    assert len(w) == 61
    assert w[:22] == [2] * 22 and w[22:33] == [4] * 11
    assert w[33:41] == [12] * 8 and w[41:49] == [24] * 8 and w[49:57] == [48] * 8
    assert w[57:] == [66, 66, 66, 67]


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("n_fft", [256, 512, 2048])
def test_widths_cover_all_bins(fs, n_fft):
    w = band_widths(fs, n_fft)
    assert sum(w) == n_fft // 2 + 1
    assert all(b >= 1 for b in w)


def test_invalid_setting():
    with pytest.raises(ValueError):
        band_widths(0, 512)


@pytest.mark.parametrize("num_outputs", [1, 3])
def test_encode_decode_shapes(num_outputs):
    w = band_widths(16000, 256)
    enc, dec = BandSplitEncoder(w, 8), BandwiseDecoder(w, 8, num_outputs=num_outputs)
    spec = torch.randn(2, 5, 129, dtype=torch.complex64)
    feats = enc(spec)
    assert feats.shape == (2, 8, 5, len(w))
    mask = dec(feats)
    assert mask.shape == (2, num_outputs, 5, 129) and mask.is_complex()


def test_band_input_channel_order():
    """Channels of a band are (bin, re/im) with re/im fastest."""
    w = [2, 127]
    enc = BandSplitEncoder(w, 4)
    conv = enc.bands[0][1]
    spec = torch.zeros(1, 1, 129, dtype=torch.complex64)
    spec[0, 0, 1] = 1j  # imaginary part of bin 1 -> channel 3
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 3, 0] = 1.0
        conv.bias.zero_()
        enc.bands[0][0].weight.fill_(1.0)
        enc.bands[0][0].bias.zero_()
        out = enc(spec)
    assert out[0, 0, 0, 0] > 0 and torch.all(out[0, 1:, 0, 0] == 0)


@pytest.mark.parametrize("bands_per_product", [1, 3, 100])
def test_decoder_matches_per_band_modules(bands_per_product, monkeypatch):
    """Batched decoding (with and without autograd, any band grouping) equals each band's own modules."""
    torch.manual_seed(0)
    w = band_widths(16000, 256)
    dec = BandwiseDecoder(w, 8, num_outputs=2)
    monkeypatch.setattr(kernels.SETTINGS, "decoder_bands_per_product", bands_per_product)
    feats = torch.randn(2, 8, 5, len(w))
    ref = []
    for q, band in enumerate(dec.bands):
        h = band(feats[..., q].reshape(2, 8, 5))  # (B', 2 * S * b, T) after GLU
        h = h.view(2, 2, 2, w[q], 5)  # (B', S, re/im, bin, T)
        ref.append(torch.complex(h[:, :, 0], h[:, :, 1]).transpose(-1, -2))  # (B', S, T, b)
    ref = torch.cat(ref, dim=-1)
    assert torch.allclose(dec(feats), ref, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(dec(feats), ref, atol=1e-6)
