# SPDX-License-Identifier: Apache-2.0
"""Settings of one TF-Locoformer stack (:class:`~tuss_plugin.layers.tf_locoformer.TFLocoformerStack`).

ESPnet's ``separator_conf`` stays flat (``cross_prompt_n_heads``,
``cond_tse_freq_ffn``, ``first_blocks``, ...): that is what ``--print_config``
shows and what configs and the release importer write. A separator gathers the
five keys of each of its stacks into one :class:`StackSettings`, which checks
them and names the offending key in its messages, and builds the stack with
:meth:`TFLocoformerStack.from_settings
<tuss_plugin.layers.tf_locoformer.TFLocoformerStack.from_settings>`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Sequence, Tuple

#: options of one SwiGLU FFN config (:class:`~tuss_plugin.layers.tf_locoformer.SwiGLUConvDeconv1d`)
FFN_OPTIONS = ("dim_inner", "conv1d_kernel", "conv1d_shift")

# what each field is called by TFLocoformerStack's own (positional) parameters
_STACK_PARAMETER = {"blocks": "n_blocks", "freq_ffn": "freq_ffn_config", "frame_ffn": "frame_ffn_config"}


def ffn_kwargs(conf: Mapping) -> Dict:
    """Checked :class:`SwiGLUConvDeconv1d` arguments of one FFN config (``dim_inner`` required).

    The authors' release nests them as ``{conf: {...}}``; :mod:`tuss_plugin.convert.release`
    unwraps that when it converts a release's ``hparams.yaml``.
    """
    conf = dict(conf)
    allowed = set(FFN_OPTIONS)
    unknown = set(conf) - allowed
    if unknown:
        raise ValueError(f"unknown FFN option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "dim_inner" not in conf:
        raise ValueError(f"FFN config {conf} lacks 'dim_inner'")
    return conf


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """The five settings of one TF-Locoformer stack, checked.

    Args:
        blocks: number of TF-Locoformer blocks (>= 1).
        attention_dim: attention width (heads x head dimension).
        n_heads: attention heads; must divide ``attention_dim`` into an even
            head dimension (RoPE rotates pairs of features).
        freq_ffn: two FFN configs (``dim_inner``, ``conv1d_kernel``,
            ``conv1d_shift``) of the frequency paths: entry 0 is the FFN before
            attention, entry 1 the one after it.
        frame_ffn: two FFN configs of the time paths.
        prefix: the stack's prefix in ``separator_conf`` (``cross_prompt``,
            ``cond_tse``, ``first``, ``second``); only used to name keys in
            error messages and by :meth:`to_prefixed`. Without it the
            messages use :class:`TFLocoformerStack`'s parameter names.

    The FFN configs are stored as tuples of plain dicts (copies).
    """

    blocks: int
    attention_dim: int
    n_heads: int
    freq_ffn: Tuple[Dict, ...]
    frame_ffn: Tuple[Dict, ...]
    prefix: str = dataclasses.field(default="", compare=False)

    FIELDS = ("blocks", "attention_dim", "n_heads", "freq_ffn", "frame_ffn")

    def __post_init__(self):
        key = self.key
        if self.blocks < 1:
            raise ValueError(f"{key('blocks')} must be >= 1, got {self.blocks}")
        if self.n_heads < 1:
            raise ValueError(f"{key('n_heads')} must be >= 1, got {self.n_heads}")
        if self.attention_dim % self.n_heads != 0:
            raise ValueError(
                f"{key('attention_dim')}={self.attention_dim} is not divisible by {key('n_heads')}={self.n_heads}"
            )
        if self.head_dim % 2 != 0:
            raise ValueError(
                f"RoPE needs an even head dimension, got {self.head_dim} "
                f"({key('attention_dim')}={self.attention_dim} / {key('n_heads')}={self.n_heads})"
            )
        for name in ("freq_ffn", "frame_ffn"):
            configs = getattr(self, name)
            if isinstance(configs, (str, Mapping)) or not isinstance(configs, Sequence):
                raise ValueError(f"{key(name)} must be a list of 2 FFN configs, got {configs!r}")
            if len(configs) != 2:
                raise ValueError(f"{key(name)}: a macaron path needs 2 FFN configs, got {len(configs)}")
            checked = []
            for i, conf in enumerate(configs):
                if not isinstance(conf, Mapping):
                    raise ValueError(f"{key(name)}[{i}] must be a mapping, got {conf!r}")
                try:
                    checked.append(ffn_kwargs(conf))
                except ValueError as e:
                    raise ValueError(f"{key(name)}[{i}]: {e}") from None
            object.__setattr__(self, name, tuple(checked))

    def key(self, field: str) -> str:
        """How ``field`` is called where these settings come from (for messages)."""
        if self.prefix:
            return f"{self.prefix}_{field}"
        return _STACK_PARAMETER.get(field, field)

    @property
    def head_dim(self) -> int:
        """Width of one attention head (``attention_dim // n_heads``)."""
        return self.attention_dim // self.n_heads

    @classmethod
    def from_prefixed(cls, conf: Mapping[str, Any], prefix: str) -> "StackSettings":
        """Settings from flat keys ``<prefix>_blocks``, ``<prefix>_attention_dim``, ...

        ``conf`` may hold other keys (a whole ``separator_conf``); all five of
        this stack's keys are required.
        """
        missing = [f"{prefix}_{f}" for f in cls.FIELDS if f"{prefix}_{f}" not in conf]
        if missing:
            raise ValueError(f"missing separator_conf key(s) {missing}")
        return cls(**{f: conf[f"{prefix}_{f}"] for f in cls.FIELDS}, prefix=prefix)

    def to_prefixed(self, prefix: str = "") -> Dict[str, Any]:
        """The flat keys (``<prefix>_blocks``, ...) of these settings; FFN configs as lists."""
        prefix = prefix or self.prefix
        if not prefix:
            raise ValueError("to_prefixed needs a prefix")
        out = {}
        for f in self.FIELDS:
            value = getattr(self, f)
            out[f"{prefix}_{f}"] = [dict(c) for c in value] if f.endswith("_ffn") else value
        return out
