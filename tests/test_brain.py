"""The brain: shapes per preset, gradient paths through state, checkpoints, bad input, generation."""
from __future__ import annotations

import runpy
from dataclasses import replace

import pytest
import torch

from penguin.brain import (
    PAD_ID,
    PRESETS,
    Brain,
    BrainConfig,
    BrainState,
    BrainStep,
    generate,
    parameter_count,
)
from penguin.brain.config import STEMS

SEP, EOS = 3, 2  # the tokenizer's ids; the brain takes them as arguments


def tokens(batch: int, length: int, vocab: int, *, pads: int = 0, seed: int = 0) -> torch.Tensor:
    """Random non-pad ids, right-padded with `pads` pad ids."""
    ids = torch.randint(1, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))
    if pads:
        ids[:, length - pads:] = PAD_ID
    return ids


def full_step(config: BrainConfig, batch: int, *, seed: int = 0, pads: int = 0) -> BrainStep:
    generator = torch.Generator().manual_seed(seed)
    size = config.image_size
    return BrainStep(
        image=torch.rand(batch, 3, size, size, generator=generator),
        prompt_ids=tokens(batch, config.max_prompt_len, config.vocab_size, pads=pads, seed=seed + 1),
        reply_ids=tokens(batch, config.max_reply_len, config.vocab_size, pads=pads, seed=seed + 2),
    )


@pytest.fixture(scope="module")
def brain() -> Brain:
    torch.manual_seed(0)
    return Brain.from_preset("tiny64")


def check_shapes(config: BrainConfig, batch: int, out, state: BrainState) -> None:
    size, vocab = config.image_size, config.vocab_size
    assert out.text_logits.shape == (batch, config.max_reply_len, vocab)
    assert out.prompt_logits.shape == (batch, config.max_prompt_len, vocab)
    assert out.image.shape == (batch, 3, size, size)
    assert out.value.shape == (batch,)
    assert out.selection_logits.shape == (batch, 1 + config.canvases)
    assert state.canvases.shape == (batch, config.canvases, 3, size, size)
    assert state.memory.shape == (batch, config.memory_slots, config.width)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_output_shapes_of_every_preset(name):
    # Only tiny64 is allocated; the larger presets run on `meta` (shapes, no memory, no compute).
    device = "cpu" if name == "tiny64" else "meta"
    config = PRESETS[name]
    with torch.device(device):
        model = Brain(config)
        step = full_step(config, 2, pads=3) if device == "cpu" else BrainStep(
            image=torch.empty(2, 3, config.image_size, config.image_size),
            prompt_ids=torch.ones(2, config.max_prompt_len, dtype=torch.long),
            reply_ids=torch.ones(2, config.max_reply_len, dtype=torch.long),
        )
        out, state = model(step, BrainState.fresh(2, device))
        check_shapes(config, 2, out, state)
        out, state = model(step, state)
        check_shapes(config, 2, out, state)
    if device == "cpu":
        assert torch.isfinite(out.text_logits).all() and torch.isfinite(out.prompt_logits).all()
        assert ((out.image >= 0) & (out.image <= 1)).all()


def test_seed224_has_the_original_size():
    assert abs(parameter_count("seed224") - 260e6) <= 26e6


def test_entry_point_prints_every_preset(capsys):
    runpy.run_module("penguin.brain", run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" — ")[0] for line in lines] == list(PRESETS)
    assert all(line.endswith(" M parameters") for line in lines)


@pytest.mark.parametrize("stem", STEMS)
def test_a_gold_sized_dot_is_not_drowned_in_the_image_tokens(stem):
    # A 5-px coin must move its token's encoding visibly at initialisation; with PyTorch's default
    # conv init and no stem norm the conv stem moved it by 2 % and nothing downstream could learn.
    torch.manual_seed(0)
    encoder = Brain.from_preset("tiny64", stem=stem).image_encoder
    images = torch.ones(2, 3, 64, 64)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    coin = (xs - 21) ** 2 + (ys - 30) ** 2 < 1.5
    images[1] = torch.where(coin, torch.tensor([0.9, 0.7, 0.0])[:, None, None], images[1])
    with torch.no_grad():
        tokens = encoder(images)
    change = (tokens[0] - tokens[1]).norm(dim=-1).max() / tokens[0].norm(dim=-1).mean()
    assert change > 0.1


@pytest.mark.parametrize("stem", STEMS)
def test_empty_floor_encodes_to_zero_and_only_drawn_patches_light_up(stem):
    # The stems read ink (1 − pixel) and the conv stem gates its coordinates by it: a white image
    # gives exactly zero stem features, and a lone coin lights up only the tokens whose receptive
    # field holds it. Ungated coordinates or a white-as-signal input would light up every token.
    torch.manual_seed(0)
    encoder = Brain.from_preset("tiny64", stem=stem).image_encoder
    images = torch.ones(2, 3, 64, 64)
    images[1, :, 30:32, 21:23] = torch.tensor([0.9, 0.7, 0.0])[:, None, None]  # a 2-px coin
    with torch.no_grad():
        features = encoder.stem(1.0 - images).flatten(2).transpose(1, 2)  # [2, 64 tokens, width]
    assert features[0].abs().max() == 0
    lit = features[1].abs().amax(dim=-1) > 0
    token_of_coin = (30 // 8) * 8 + 21 // 8
    assert lit[token_of_coin]
    assert 1 <= int(lit.sum()) <= 4  # the coin's token and, for the 3×3 convs, its neighbours


def test_gradients_reach_every_parameter(brain):
    config = brain.config
    # Full-length prompt and reply so that every learned position is used.
    out, state = brain(full_step(config, 2), BrainState.fresh(2, "cpu"))
    generator = torch.Generator().manual_seed(1)
    outputs = [out.text_logits, out.prompt_logits, out.image, out.value, out.selection_logits,
               out.kind_logits, state.memory]
    # Random projections rather than plain sums, so no symmetry can cancel a gradient.
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in outputs)
    brain.zero_grad()
    loss.backward()
    silent = [name for name, p in brain.named_parameters() if p.grad is None or not p.grad.any()]
    brain.zero_grad()
    assert not silent, f"parameters without gradient: {silent}"


def test_detach_cuts_the_graph_to_the_previous_step(brain):
    config = brain.config
    first = full_step(config, 2, seed=0)
    image = first.image.clone().requires_grad_()
    _, state = brain(BrainStep(image, first.prompt_ids, first.reply_ids), BrainState.fresh(2, "cpu"))
    second = full_step(config, 2, seed=10)

    out, _ = brain(second, state)
    (grad,) = torch.autograd.grad(out.image.sum() + out.value.sum(), image)
    assert grad.abs().sum() > 0

    out, _ = brain(second, state.detach())
    (grad,) = torch.autograd.grad(out.image.sum() + out.value.sum(), image, allow_unused=True)
    assert grad is None


def test_recall_path_reads_an_earlier_image(brain):
    config = brain.config
    first = full_step(config, 2)
    image = first.image.clone().requires_grad_()
    out1, state = brain(BrainStep(image=image, prompt_ids=first.prompt_ids), BrainState.fresh(2, "cpu"))
    # A fresh state starts every canvas as the input; the prediction then becomes canvas 0.
    assert torch.equal(state.canvases[:, 0], out1.image)
    assert torch.equal(state.canvases[:, 1:], image[:, None].expand(-1, config.canvases - 1, -1, -1, -1))

    out2, state2 = brain(BrainStep(prompt_ids=first.prompt_ids), state)
    assert torch.isinf(out2.selection_logits[:, 0]).all() and (out2.selection_logits[:, 0] < 0).all()
    assert torch.isfinite(out2.selection_logits[:, 1:]).all()
    assert torch.equal(state2.canvases[:, 1], out1.image)
    (grad,) = torch.autograd.grad(out2.image.sum(), image)
    assert grad.abs().sum() > 0


def test_memory_write_is_a_running_average_that_leaves_the_old_memory_alone(brain):
    config = brain.config
    step = full_step(config, 2)
    with torch.no_grad():
        _, state = brain(step, BrainState.fresh(2, "cpu"))
        before = state.memory.clone()
        brain(step, state)
    assert torch.equal(state.memory, before), "the step modified the stored memory in place"

    # Same context, two different old memories: slot k keeps k/(k+1) of the difference, so slot 0
    # is the new value alone and slot k averages at rate 1/(k+1).
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(2, 10, config.width, generator=generator)
    valid = torch.ones(2, 10, dtype=torch.bool)
    old = torch.randn(2, 2, config.memory_slots, config.width, generator=generator)
    with torch.no_grad():
        written = [brain.memory_encoder(context, valid, memory) for memory in old]
    k = torch.arange(config.memory_slots, dtype=torch.float32)[:, None]
    assert torch.allclose(written[0] - written[1], (old[0] - old[1]) * k / (k + 1), atol=1e-5)


def test_state_dict_loads_into_a_brain_used_with_another_batch_size(brain):
    config = brain.config
    state = BrainState.fresh(2, "cpu")
    with torch.no_grad():
        for seed in (0, 1):
            _, state = brain(full_step(config, 2, seed=seed), state)
    saved = brain.state_dict()
    def shapes(state):  # tensors by shape; the kind vocabulary (extra state) is a plain record
        return {name: tuple(t.shape) if isinstance(t, torch.Tensor) else type(t) for name, t in state.items()}

    assert shapes(saved) == shapes(Brain(config).state_dict())

    other = Brain(config)
    other.load_state_dict(saved)
    step = full_step(config, 5, seed=3, pads=4)
    with torch.no_grad():
        ours, our_state = brain(step, BrainState.fresh(5, "cpu"))
        theirs, their_state = other(step, BrainState.fresh(5, "cpu"))
    for a, b in [(ours.text_logits, theirs.text_logits), (ours.image, theirs.image),
                 (ours.value, theirs.value), (our_state.memory, their_state.memory)]:
        assert torch.equal(a, b)


def test_reply_never_leaks_into_the_context_and_decoding_is_causal(brain):
    config = brain.config
    step = full_step(config, 2)
    changed = step.reply_ids.clone()
    changed[:, 5:] = tokens(2, config.max_reply_len - 5, config.vocab_size, seed=9)
    with torch.no_grad():
        a, _ = brain(step, BrainState.fresh(2, "cpu"))
        b, _ = brain(BrainStep(step.image, step.prompt_ids, changed), BrainState.fresh(2, "cpu"))
    assert torch.equal(a.image, b.image) and torch.equal(a.value, b.value)
    assert torch.equal(a.selection_logits, b.selection_logits)
    assert torch.allclose(a.text_logits[:, :5], b.text_logits[:, :5], atol=1e-5)
    assert not torch.allclose(a.text_logits[:, 5:], b.text_logits[:, 5:])


def test_the_text_decoder_reads_the_question_and_the_glance_on_every_reply_position(brain):
    """The prompt's summary and the image's per-channel maximum reach every reply position
    directly, not only through the context: swapping either decodes differently everywhere."""
    config = brain.config
    step = full_step(config, 3, pads=4)
    with torch.no_grad():
        context, out, _ = brain.perceive(step, BrainState.fresh(3, "cpu"))
        valid = step.prompt_ids != PAD_ID
        encoded = brain.text_encoder(brain.token_embedding(step.prompt_ids), valid)
        assert torch.allclose(context.question, encoded[:, config.max_prompt_len - 5], atol=1e-6)
        # On a fresh state every source is the input image, so the mixed tokens are its features
        # plus the selection-weighted tags.
        tags = out.selection_logits.softmax(-1) @ brain.image_tags
        mixed = brain.image_encoder(step.image) + tags[:, None]
        assert torch.allclose(context.glance, mixed.amax(dim=1), atol=1e-5)
        for field in ("question", "glance"):
            other = replace(context, **{field: getattr(context, field).flip(0)})  # sample 1 keeps its own
            a, b = brain.reply_logits(context, step.reply_ids), brain.reply_logits(other, step.reply_ids)
            differs = (a - b).abs().amax(dim=-1)  # [B, Tr]
            assert (differs[[0, 2]] > 1e-5).all() and torch.equal(a[1], b[1]), field


def test_the_reader_multiplies_question_and_glance_from_the_start(brain):
    """The gated reader has question × glance terms at initialisation (its gates keep fan-in scale
    through the brain's std-0.02 initialisation), and the reply positions start at unit scale."""
    reader, width = brain.text_decoder.reader, brain.config.width
    fan_in = (2 * width) ** -0.5 / 3 ** 0.5  # std of PyTorch's default uniform init
    for gate in (reader.left, reader.right):
        assert abs(gate.weight.std().item() - fan_in) < 0.1 * fan_in
    assert brain.text_decoder.positions.std().item() > 0.5
    generator = torch.Generator().manual_seed(0)
    q1, q2, g1, g2 = (torch.randn(1, width, generator=generator) for _ in range(4))
    read = lambda q, g: reader(torch.cat([q, g], dim=-1))
    with torch.no_grad():
        interaction = read(q1, g1) - read(q1, g2) - read(q2, g1) + read(q2, g2)
        # An additive reader (any f(q) + h(g)) would give exactly zero.
        assert interaction.abs().max() > 0.05 * read(q1, g1).abs().max()


def test_pad_tokens_are_invisible_and_never_make_nan(brain):
    config = brain.config
    step = full_step(config, 2, pads=10)
    short = BrainStep(step.image, step.prompt_ids[:, :-10], step.reply_ids[:, :-10])
    with torch.no_grad():
        padded, padded_state = brain(step, BrainState.fresh(2, "cpu"))
        trimmed, trimmed_state = brain(short, BrainState.fresh(2, "cpu"))
    assert torch.allclose(padded.image, trimmed.image, atol=1e-5)
    assert torch.allclose(padded.value, trimmed.value, atol=1e-5)
    assert torch.allclose(padded_state.memory, trimmed_state.memory, atol=1e-5)
    assert torch.allclose(padded.text_logits[:, :-10], trimmed.text_logits, atol=1e-4)

    # A row that is nothing but padding still gives finite outputs.
    empty = torch.zeros(2, 6, dtype=torch.long)
    with torch.no_grad():
        out, state = brain(BrainStep(step.image, empty, empty), BrainState.fresh(2, "cpu"))
    for tensor in (out.text_logits, out.prompt_logits, out.image, out.value, state.memory):
        assert torch.isfinite(tensor).all()


def test_bad_input_raises_one_line_errors(brain):
    config = brain.config
    step = full_step(config, 2)
    fresh = BrainState.fresh(2, "cpu")
    with pytest.raises(ValueError, match="needs an image, a prompt, or a state that has seen an image"):
        brain(BrainStep(reply_ids=step.reply_ids), fresh)
    with pytest.raises(ValueError, match="image must be"):
        brain(BrainStep(image=torch.rand(2, 3, 32, 32)), fresh)
    with pytest.raises(ValueError, match="prompt_ids holds ids outside"):
        brain(BrainStep(image=step.image, prompt_ids=torch.full((2, 4), config.vocab_size)), fresh)
    with pytest.raises(ValueError, match="reply_ids has 33 tokens"):
        brain(BrainStep(image=step.image, reply_ids=torch.ones(2, 33, dtype=torch.long)), fresh)
    with pytest.raises(ValueError, match="image has batch 2 but the state has 3"):
        brain(BrainStep(image=step.image), BrainState.fresh(3, "cpu"))
    with pytest.raises(ValueError, match="disagree on the batch size"):
        BrainStep(image=step.image, prompt_ids=torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="prompt_ids must be an int64/int32 tensor"):
        BrainStep(prompt_ids=torch.ones(2, 4))
    with pytest.raises(ValueError, match="batch must be a positive int"):
        BrainState.fresh(0, "cpu")
    with pytest.raises(ValueError, match="unknown brain preset"):
        Brain.from_preset("huge")
    with pytest.raises(ValueError, match="unknown BrainConfig field"):
        Brain.from_preset("tiny64", widht=64)
    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        BrainConfig(image_size=60)
    with pytest.raises(ValueError, match="not divisible by text_decoder_heads"):
        BrainConfig(text_decoder_heads=3)


def test_generate_writes_valid_ids_and_is_deterministic(brain):
    config = brain.config
    step = full_step(config, 3, pads=5)
    prompt_step = BrainStep(image=step.image, prompt_ids=step.prompt_ids)
    state = BrainState.fresh(3, "cpu")
    greedy = generate(brain, prompt_step, state, sep_id=SEP, eos_id=EOS, max_len=6)
    assert greedy.dtype == torch.long and greedy.shape[0] == 3 and 1 <= greedy.shape[1] <= 6
    assert ((greedy >= 0) & (greedy < config.vocab_size)).all()
    assert torch.equal(greedy, generate(brain, prompt_step, state, sep_id=SEP, eos_id=EOS, max_len=6))

    def sample(seed: int) -> torch.Tensor:
        return generate(brain, prompt_step, state, sep_id=SEP, eos_id=EOS, max_len=6,
                        temperature=1.0, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(7), sample(7))
    for row in sample(8):
        ends = (row == EOS).nonzero()
        if len(ends):
            assert (row[ends[0, 0] + 1:] == PAD_ID).all()


def test_generate_stops_at_end_of_sequence(brain):
    config = brain.config
    step = full_step(config, 2)
    prompt_step = BrainStep(image=step.image, prompt_ids=step.prompt_ids)
    with torch.no_grad():
        brain.vocab_bias[EOS] = 1e4
    try:
        ids = generate(brain, prompt_step, BrainState.fresh(2, "cpu"), sep_id=SEP, eos_id=EOS,
                       max_len=8)
    finally:
        with torch.no_grad():
            brain.vocab_bias[EOS] = 0.0
    assert ids.tolist() == [[EOS], [EOS]]
    with pytest.raises(ValueError, match="max_len must be in"):
        generate(brain, prompt_step, BrainState.fresh(2, "cpu"), sep_id=SEP, eos_id=EOS,
                 max_len=config.max_reply_len + 1)
    with pytest.raises(ValueError, match="without reply_ids"):
        generate(brain, step, BrainState.fresh(2, "cpu"), sep_id=SEP, eos_id=EOS, max_len=4)


def test_bf16_autocast_forward_is_finite(brain):
    config = brain.config
    step = full_step(config, 2, pads=3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = brain(step, BrainState.fresh(2, "cpu"))
        out, state = brain(BrainStep(prompt_ids=step.prompt_ids, reply_ids=step.reply_ids), state)
    for tensor in (out.text_logits, out.prompt_logits, out.image, out.value,
                   out.selection_logits[:, 1:], state.memory, state.canvases):
        assert torch.isfinite(tensor).all()
    # The state keeps its dtype across autocast steps.
    assert state.memory.dtype == torch.float32 and state.canvases.dtype == torch.float32


def test_a_text_only_step_reads_memory_and_prompt_and_draws_nothing(brain):
    config = brain.config
    step = full_step(config, 2)
    out, state = brain(BrainStep(prompt_ids=step.prompt_ids, reply_ids=step.reply_ids), BrainState.fresh(2, "cpu"))
    assert out.image is None and state.canvases is None
    assert out.text_logits.shape[:2] == step.reply_ids.shape and torch.isfinite(out.prompt_logits).all()
    assert state.memory.shape == (2, config.memory_slots, config.width)
    # The text-only step's memory carries into a later step that sees an image.
    out2, _ = brain(BrainStep(image=step.image, prompt_ids=step.prompt_ids), state)
    out3, _ = brain(BrainStep(image=step.image, prompt_ids=step.prompt_ids), BrainState.fresh(2, "cpu"))
    assert not torch.allclose(out2.image, out3.image)
