# SPDX-License-Identifier: Apache-2.0
"""The training protocol of the paper's Table III runs: learning-rate schedule,
output slots of the conventional models, precision and loss averaging of the
shipped configs."""

import importlib
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import yaml
from espnet2.tasks.abs_task import scheduler_classes
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter

from tuss_plugin.bin import tuss_train
from tuss_plugin.onthefly.conf import resolve_onthefly_conf
from tuss_plugin.prompts import PromptVocabulary
from tuss_plugin.separator.bslocoformer_separator import BSLocoformerSeparator
from tuss_plugin.tasks.tuss import TUSSTask, apply_output_slots, check_slot_order, output_slots

import fake_eval_corpora as fake
from conftest import ROOT, TESTS
from datagen import make_data_dir, train_args

PAPER_CONF = ROOT / "egs" / "unified" / "tuss1" / "conf" / "tuning" / "train_tuss_medium.yaml"


class _Tiny(torch.nn.Module):
    """A one-parameter model returning ESPnet's (loss, stats, weight)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, **kwargs):
        loss = ((self.w * x) ** 2).mean()
        return loss, {"loss": loss.detach()}, torch.tensor(x.shape[0])


def _paper_args(tmp_path: Path, *extra: str):
    """ESPnet's namespace of a shipped paper config (optimiser and scheduler as trained)."""
    return TUSSTask.get_parser().parse_args(["--config", str(PAPER_CONF), "--output_dir", str(tmp_path), *extra])


def _build_optim(args, model: torch.nn.Module):
    """Optimiser and scheduler exactly as ESPnet's task builds them."""
    (optim,) = TUSSTask.build_optimizers(args, model=model)
    scheduler = scheduler_classes[args.scheduler](optim, **args.scheduler_conf)
    return optim, scheduler


def _rates_seen(optim: torch.optim.Optimizer) -> List[float]:
    """Learning rates in effect at each ``optimizer.step()`` (recorded by a pre-hook)."""
    seen: List[float] = []
    optim.register_step_pre_hook(lambda opt, *_: seen.append(float(opt.param_groups[0]["lr"])))
    return seen


# ------------------------------------------------------------------ warm-up


def test_warmup_starts_from_zero(tmp_path):
    """Paper: linear ramp from 0 to the peak over 10k steps; step k runs at k/10k of the peak."""
    args = _paper_args(tmp_path)
    peak, warmup = args.optim_conf["lr"], args.scheduler_conf["warmup_steps"]
    assert (peak, warmup) == (1.0e-3, 10000)
    model = _Tiny()
    optim, scheduler = _build_optim(args, model)
    seen = _rates_seen(optim)
    # the first steps through ESPnet's own training loop (it steps the scheduler
    # after every optimiser update)
    reporter = Reporter()
    reporter.set_epoch(1)
    batches = [([f"u{i}"], {"x": torch.ones(1, 4)}) for i in range(3)]
    with reporter.observe("train") as sub:
        TUSSTask.trainer.train_one_epoch(
            model=model,
            iterator=batches,
            optimizers=[optim],
            schedulers=[scheduler],
            scaler=None,
            reporter=sub,
            summary_writer=None,
            options=TUSSTask.trainer.build_options(args),
            distributed_option=DistributedOption(distributed=False, ngpu=0),
        )
    assert seen == pytest.approx([peak * 1 / warmup, peak * 2 / warmup, peak * 3 / warmup], rel=1e-9)
    # the rest of the ramp in the trainer's order (update, then scheduler step);
    # updates 4 .. 9998 only read the rate they would run at
    while len(seen) < warmup - 2:
        seen.append(float(optim.param_groups[0]["lr"]))
        scheduler.step()
    x = torch.ones(1, 4)
    while len(seen) < warmup + 2:
        optim.zero_grad()
        model(x)[0].backward()
        optim.step()
        scheduler.step()
    assert seen[3] == pytest.approx(peak * 4 / warmup, rel=1e-9)
    assert seen[warmup - 1] == pytest.approx(peak, rel=1e-9)  # step 10k: the peak
    assert seen[warmup] == pytest.approx(peak, rel=1e-9)  # and it stays there
    assert seen[warmup - 2] == pytest.approx(peak * (warmup - 1) / warmup, rel=1e-9)


def test_hold_then_halve_on_plateau_after_warmup(tmp_path):
    """The configs' hold (75 epochs) and halving (patience 5) still apply after the
    new ramp, batch steps after the ramp leave a halved rate alone, and a resumed
    scheduler continues the ramp where it stopped."""
    args = _paper_args(tmp_path)
    peak, warmup = args.optim_conf["lr"], args.scheduler_conf["warmup_steps"]
    conf = args.scheduler_conf
    assert (conf["keep_lr_epochs"], conf["factor"], conf["patience"]) == (75, 0.5, 5)
    optim, scheduler = _build_optim(args, _Tiny())
    lr = lambda: float(optim.param_groups[0]["lr"])  # noqa: E731

    # resume in the middle of the ramp (ESPnet: optimiser state, then scheduler state)
    for _ in range(123):
        scheduler.step()
    optim2, scheduler2 = _build_optim(args, _Tiny())
    optim2.load_state_dict(optim.state_dict())
    scheduler2.load_state_dict(scheduler.state_dict())
    assert float(optim2.param_groups[0]["lr"]) == pytest.approx(peak * 124 / warmup, rel=1e-9)
    scheduler2.step()
    assert float(optim2.param_groups[0]["lr"]) == pytest.approx(peak * 125 / warmup, rel=1e-9)

    for _ in range(warmup - 123):
        scheduler.step()
    assert lr() == pytest.approx(peak, rel=1e-9)
    for epoch in range(1, 76):  # hold: even a worsening loss keeps the peak
        scheduler.step(10.0 + epoch)
        assert lr() == pytest.approx(peak, rel=1e-9), epoch
    scheduler.step(1.0)  # epoch 76: first epoch that counts
    rates = []
    for _ in range(12):  # no improvement: halved after 6 epochs without improvement
        scheduler.step(1.0)
        rates.append(lr())
    assert rates == pytest.approx([peak] * 5 + [peak / 2] * 6 + [peak / 4], rel=1e-9)
    for _ in range(1000):  # batch steps after the ramp keep the reduced rate
        scheduler.step()
    assert lr() == pytest.approx(peak / 4, rel=1e-9)


def test_warmup_steps_must_be_positive():
    optim = torch.optim.AdamW([torch.nn.Parameter(torch.ones(1))], lr=1e-3)
    with pytest.raises(ValueError, match="warmup_steps must be > 0, got 0"):
        scheduler_classes["tusswarmupplateau"](optim, warmup_steps=0)


# ------------------------------------------------------------------ output slots


CONVENTIONAL_CONFIGS = sorted(ROOT.glob("egs/*/tuss1/conf/tuning/train_bslocoformer_*.yaml"))
CORPORA = ("vctk_demand", "wham", "fuss", "musdb18hq", "dnr")


@pytest.fixture(scope="module")
def prompt_lists(tmp_path_factory) -> Dict[str, List[Path]]:
    """{corpus: the utt2prompts files its data prep writes (dev and test sets)} on the fake trees."""
    base = tmp_path_factory.mktemp("corpora")
    roots = fake.make_all(base)
    out: Dict[str, List[Path]] = {}
    for corpus in CORPORA:
        module = importlib.import_module(f"tuss_plugin.dataprep.eval_sets.{corpus}")
        dirs = module.prepare(roots[module.VARIABLE], data_dir=base / "data" / corpus)
        out[corpus] = [d / "utt2prompts" for d in dirs.values()]
    return out


def _conf_args(path: Path):
    return TUSSTask.get_parser().parse_args(["--config", str(path)])


@pytest.mark.parametrize("path", CONVENTIONAL_CONFIGS, ids=lambda p: p.parts[-5])
def test_conventional_slots_match_the_lists(path, prompt_lists):
    """Output k of a conventional model is compared with reference k of the lists
    (validation, scoring), so the slot order its config declares (and sorts the
    training mixtures into) must be the order its corpus' data prep writes."""
    recipe = path.parts[-5]
    args = _conf_args(path)
    vocab = TUSSTask.build_preprocess_fn(args, train=False).vocab
    slots = output_slots(args, vocab)
    onthefly = args.train_data_source == "onthefly"
    conf = resolve_onthefly_conf(args.onthefly_conf, args) if onthefly else None
    if slots is None:
        # interchangeable outputs: PIT over all outputs, no prompts in the batch
        assert not onthefly or (conf["emit_prompts"] is False and not conf["sort_prompts"]), path
        return
    if onthefly:
        assert apply_output_slots(conf, slots, vocab)["sort_prompts"] == slots  # training order
    corpora = CORPORA if recipe == "unified" else (recipe,)
    assert set(corpora) <= set(CORPORA), f"{path}: no data prep known for recipe {recipe}"
    for corpus in corpora:
        for f in prompt_lists[corpus]:
            check_slot_order(str(f), slots, vocab)  # raises on the first utterance in another order


def _tiny_conventional(tmp_path: Path, slots: List[str]) -> Path:
    """A tiny BS-Locoformer config with output slots ``slots``."""
    conf = yaml.safe_load((TESTS / "conf" / "tuss_tiny.yaml").read_text())
    ffn = [{"dim_inner": 16, "conv1d_kernel": 4}] * 2
    conf["separator"] = "bslocoformer"
    conf["separator_conf"] = dict(
        num_spk=len(slots),
        output_prompts=slots,
        fs=16000,
        n_fft=256,
        emb_dim=8,
        num_groups=2,
        first_blocks=1,
        first_attention_dim=8,
        first_n_heads=2,
        first_freq_ffn=ffn,
        first_frame_ffn=ffn,
        second_blocks=0,
    )
    path = tmp_path / "conventional.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def test_lists_in_another_order_are_refused(tmp_path):
    """Validation (and list-based training) refuses lists whose order is not the slots'."""
    config = _tiny_conventional(tmp_path, ["speech", "sfxbg"])
    good = make_data_dir(tmp_path / "good", [["speech", "sfxbg"]] * 2, seconds=0.1)
    bad = make_data_dir(tmp_path / "bad", [["speech", "sfxbg"], ["sfx-mix", "speech"]], seconds=0.1)
    args = train_args(good, tmp_path / "exp", str(config))
    args[args.index(f"{good}/utt2prompts,prompts,text", args.index("--valid_data_path_and_name_and_type"))] = (
        f"{bad}/utt2prompts,prompts,text"
    )
    with pytest.raises(
        ValueError,
        match=r"bad/utt2prompts:2: utterance utt001 lists prompts \['sfxbg', 'speech'\], "
        r"but the model's output slots .* are \['speech', 'sfxbg'\]",
    ):
        tuss_train.main(args)
    # the lists in slot order (aliases allowed) pass the check
    check_slot_order(str(good / "utt2prompts"), ["speech", "sfxbg"], PromptVocabulary())


def test_onthefly_mixing_must_agree_with_the_slots(tmp_path):
    args = _conf_args(ROOT / "egs" / "dnr" / "tuss1" / "conf" / "tuning" / "train_bslocoformer_medium.yaml")
    vocab = PromptVocabulary()
    slots = output_slots(args, vocab)
    assert slots == ["speech", "musicbg", "sfxbg"]
    conf = resolve_onthefly_conf(args.onthefly_conf, args)
    assert apply_output_slots(dict(conf, sort_prompts=True), slots, vocab)["sort_prompts"] == slots
    assert apply_output_slots(dict(conf, sort_prompts=["speech", "musicbg", "sfx-mix"]), slots, vocab)
    bad = {
        "sort_prompts \\['speech', 'sfxbg', 'musicbg'\\] is another order": dict(
            conf, sort_prompts=["speech", "sfxbg", "musicbg"]
        ),
        "emit_prompts false": dict(conf, emit_prompts=False),
        "prompt_dropout_prob > 0": dict(conf, prompt_dropout_prob=0.1),
        "num_prompts_weights draws \\[2, 3\\] prompts, the model has 3 slots": dict(
            conf, num_prompts_weights={2: 0.5, 3: 0.5}
        ),
        "prompts \\['sfx'\\] can be drawn but have no output slot": dict(
            conf, prompts=dict(conf["prompts"], sfx=dict(conf["prompts"]["sfx"], init_prob=0.1))
        ),
    }
    for message, c in bad.items():
        with pytest.raises(ValueError, match="contradicts separator_conf.output_prompts .*: " + message):
            apply_output_slots(c, slots, vocab)
    args.separator_conf = dict(args.separator_conf, output_prompts=["speech", "noise", "musicbg"])
    with pytest.raises(ValueError, match="separator_conf.output_prompts: unknown prompt 'noise'"):
        output_slots(args, vocab)


def test_separator_output_slots():
    sep = BSLocoformerSeparator(
        129,
        num_spk=2,
        fs=16000,
        n_fft=256,
        emb_dim=8,
        num_groups=2,
        first_blocks=1,
        first_attention_dim=8,
        first_n_heads=2,
        second_blocks=0,
        output_prompts=[" Speech", "sfxbg"],
    )
    assert sep.output_prompts == ["speech", "sfxbg"]
    assert BSLocoformerSeparator(129, num_spk=2, fs=16000, n_fft=256, second_blocks=0).output_prompts is None
    with pytest.raises(ValueError, match="name 3 slots for num_spk=2 outputs"):
        BSLocoformerSeparator(129, num_spk=2, fs=16000, n_fft=256, output_prompts=["speech"] * 3)
    with pytest.raises(ValueError, match="must be a list of prompt names"):
        BSLocoformerSeparator(129, num_spk=2, fs=16000, n_fft=256, output_prompts="speech sfxbg")


def test_onthefly_training_mixtures_follow_the_slots(tmp_path):
    """The task's on-the-fly iterator puts every training mixture into the slot order."""
    from datagen import make_pool

    pool = make_pool(
        tmp_path / "pool", [(p, 16000, 1.0, 1) for p in ("speech", "sfx", "sfxbg", "musicbg") for _ in range(4)]
    )
    path = ROOT / "egs" / "dnr" / "tuss1" / "conf" / "tuning" / "train_bslocoformer_medium.yaml"
    args = TUSSTask.get_parser().parse_args(
        ["--config", str(path), "--batch_size", "4", "--num_workers", "0", "--fs", "16000"]
    )
    args.onthefly_conf = dict(args.onthefly_conf, pools=[str(pool)], chunk_seconds=0.25, steps_per_epoch=2)
    factory = TUSSTask.build_iter_factory(args, DistributedOption(distributed=False), "train")
    vocab = PromptVocabulary()
    for _, batch in factory.build_iter(1):
        assert [vocab.decode(row) for row in batch["prompts"].tolist()] == [["speech", "musicbg", "sfxbg"]] * 4


# ------------------------------------------------------------------ precision and loss averaging


TRAIN_CONFIGS = sorted(ROOT.glob("conf/*.yaml")) + sorted(ROOT.glob("egs/*/tuss1/conf/tuning/*.yaml"))
# the mini corpus' configs train on the CPU (CI); all others are the paper's GPU runs
GPU_CONFIGS = [p for p in TRAIN_CONFIGS if "mini_tuss" not in p.parts]


def _name(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=_name)
def test_precision_of_every_config(path):
    """GPU configs train with mixed precision (bf16 autocast on GPUs that have it, as
    the authors did), CPU configs in fp32; never a half-precision model."""
    args = _conf_args(path)
    gpu = path in GPU_CONFIGS
    assert args.use_amp is gpu, f"{_name(path)}: use_amp {args.use_amp}, expected {gpu}"
    assert args.train_dtype == "float32" and not args.use_tf32, _name(path)


def test_cpu_training_stays_fp32_with_a_gpu_config(tmp_path, caplog):
    """--ngpu 0 turns mixed precision off: no gradient scaler, no autocast, fp32 recorded."""
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 2, seconds=0.1)
    exp = tmp_path / "exp"
    with caplog.at_level("INFO"):
        tuss_train.main(
            train_args(
                data,
                exp,
                str(TESTS / "conf" / "tuss_tiny.yaml"),
                extra=["--use_amp", "true", "--num_iters_per_epoch", "1"],
            )
        )
    assert yaml.safe_load((exp / "config.yaml").read_text())["use_amp"] is False
    assert "--use_amp true ignored with --ngpu 0: training in float32" in caplog.text


@pytest.mark.parametrize("bf16", [False, True])
def test_cpu_bf16_training_runs_under_cpu_autocast(tmp_path, monkeypatch, bf16, bf16_runs):
    """--cpu_bf16 true: the training steps run under CPU bf16 autocast (the
    separator's products in bf16), the weights stay float32, validation runs
    in float32; without it nothing is autocast."""
    from tuss_plugin.train import trainer

    seen = {"train": [], "valid": []}
    forward = trainer.FiniteLossGuard.forward

    def recording(self, **batch):
        # what the model itself sees, inside the guard
        key = "train" if self.training else "valid"
        hook = self.module.register_forward_pre_hook(lambda *_: seen[key].append(torch.is_autocast_enabled("cpu")))
        try:
            return forward(self, **batch)
        finally:
            hook.remove()

    monkeypatch.setattr(trainer.FiniteLossGuard, "forward", recording)
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 2, seconds=0.1)
    exp = tmp_path / "exp"
    extra = ["--num_iters_per_epoch", "2", "--cpu_bf16", str(bf16).lower()]
    assert tuss_train.main(train_args(data, exp, str(TESTS / "conf" / "tuss_tiny.yaml"), extra=extra)) == 0
    assert seen["train"] == [bf16, bf16]
    assert yaml.safe_load((exp / "config.yaml").read_text())["cpu_bf16"] is bf16
    state = torch.load(exp / "1epoch.pth", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}


def test_cpu_bf16_training_is_refused_where_bf16_would_be_emulated(tmp_path, monkeypatch, capsys):
    """--cpu_bf16 true on a CPU without native bf16 units (here: oneDNN capped at
    AVX2) stops before training, in one line; nothing is trained."""
    from tuss_plugin import precision

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv(precision.ALLOW_EMULATED_BF16, raising=False)
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 2, seconds=0.1)
    exp = tmp_path / "exp"
    extra = ["--num_iters_per_epoch", "1", "--cpu_bf16", "true"]
    assert tuss_train.main(train_args(data, exp, str(TESTS / "conf" / "tuss_tiny.yaml"), extra=extra)) == 1
    err = capsys.readouterr().err
    assert "tuss_train: error: --cpu_bf16 true: this CPU has no native bfloat16 units" in err.splitlines()[-1]
    assert not (exp / "1epoch.pth").exists()


def test_cpu_bf16_training_forwards_use_the_updated_weights(tmp_path, monkeypatch, bf16_runs):
    """--cpu_bf16 true: every training forward uses the weights as the last
    update left them. Autocast keeps its bf16 copies of the weights until its
    context is left; a context around a whole epoch made every forward of the
    epoch use the weights of its first step, while the optimizer updated the
    float32 ones."""
    from tuss_plugin.train import trainer

    stale = []
    forward = trainer.FiniteLossGuard.forward

    def recording(self, **batch):
        if self.training:
            # the query/key/value projection of the first attention of the separator
            qkv = next(m for n, m in self.named_modules() if n.endswith("attn.qkv"))

            def check(mod, inp, out):
                with torch.autocast("cpu", enabled=False):  # the current weights, cast now
                    fresh = torch.nn.functional.linear(inp[0].to(out.dtype), mod.weight.detach().to(out.dtype))
                stale.append(not torch.allclose(out.float(), fresh.float(), rtol=0, atol=1e-6))

            hook = qkv.register_forward_hook(check)
            try:
                return forward(self, **batch)
            finally:
                hook.remove()
        return forward(self, **batch)

    monkeypatch.setattr(trainer.FiniteLossGuard, "forward", recording)
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]] * 2, seconds=0.1)
    exp = tmp_path / "exp"
    extra = ["--num_iters_per_epoch", "3", "--cpu_bf16", "true", "--optim_conf", "lr=0.01"]
    assert tuss_train.main(train_args(data, exp, str(TESTS / "conf" / "tuss_tiny.yaml"), extra=extra)) == 0
    assert stale == [False, False, False]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_training_runs_in_bf16_autocast(tmp_path):
    """A GPU config's update on CUDA: ESPnet's trainer with its options (use_amp, ngpu 1)
    runs the separator's matrix products in bf16 and keeps the weights in fp32."""
    from espnet2.train import trainer as espnet_trainer

    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    assert espnet_trainer.autocast_args == {"dtype": torch.bfloat16}  # ESPnet's AMP dtype here
    args = _paper_args(tmp_path, "--ngpu", "1")
    options = TUSSTask.trainer.build_options(args)
    assert options.use_amp and options.ngpu == 1
    tiny = _conf_args(TESTS / "conf" / "tuss_tiny.yaml")
    model = TUSSTask.build_model(tiny).cuda()
    optim, scheduler = _build_optim(args, model)
    scaler = torch.amp.GradScaler("cuda")  # what ESPnet's run() builds for use_amp
    dtypes = []
    linear = next(m for m in model.separator.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    n = 4000
    refs = [torch.randn(2, n) * 0.1, torch.randn(2, n) * 0.05]
    batch = {
        "speech_mix": refs[0] + refs[1],
        "speech_mix_lengths": torch.tensor([n, n]),
        "speech_ref1": refs[0],
        "speech_ref2": refs[1],
        "prompts": torch.tensor([[1, 3], [1, 3]]),
        "prompts_lengths": torch.tensor([2, 2]),
    }
    before = [p.detach().clone() for p in model.parameters()]
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        TUSSTask.trainer.train_one_epoch(
            model=model,
            iterator=[(["a", "b"], batch)],
            optimizers=[optim],
            schedulers=[scheduler],
            scaler=scaler,
            reporter=sub,
            summary_writer=None,
            options=options,
            distributed_option=DistributedOption(distributed=False, ngpu=1),
        )
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))  # updated
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=_name)
def test_loss_averaging_is_visible_in_every_config(path):
    """Every category-PIT loss states its averaging; the paper configs average per
    category (the paper's text), not per output (the authors' released code)."""
    args = _conf_args(path)
    for c in args.criterions:
        if c.get("wrapper") == "category_pit":
            average = (c.get("wrapper_conf") or {}).get("average")
            assert average in ("category", "source"), f"{_name(path)}: no wrapper_conf.average"
            assert average == "category", _name(path)
