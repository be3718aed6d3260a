"""Tests of penguin.text: the question-kind rules across every task, the tokenizer, the corpus and
the tokenizer build."""
import dataclasses
import json
import re

import pytest
import torch

from datamodules import registry
from datamodules.base import TaskDataModule
from penguin.text import (
    ACTION_NAMES,
    ACTION_TOKENS,
    SPECIAL_TOKENS,
    PromptRegistryError,
    PromptTable,
    QuestionKind,
    SentencePool,
    TokenOverflowError,
    Tokenizer,
    check_kinds,
    sentences,
)
from penguin.text import build_tokenizer
from penguin.text.prompts import task_language


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.load()


def _kinds() -> dict[str, QuestionKind]:
    return {name: kind for name, (_, kind) in registry.question_kinds().items()}


def _language() -> tuple[str, ...]:
    return task_language(_kinds().values())


# ---------------------------------------------------------------- question kinds, every task
FIXED_KINDS = {
    "side_qa": ("gold_left_right", "gold_up_down", "agent_left_right", "agent_up_down"),
    "egocentric_side_qa": ("gold_on_your_side",),
    "heading_qa": ("facing_left_right", "facing_up_down", "facing_which_way"),
    "facing_gold_qa": ("facing_gold",),
    "near_gold_qa": ("near_gold",),
    "line_facing_qa": ("facing_line",),
    "turn_qa": ("turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line"),
    "next_move_qa": ("straight_collects", "turn_toward_gold_word", "next_move"),
    "action_names": ("action_to_name", "name_to_action"),
    "arrow": ("draw_line_to_gold", "copy_scene"),
    "control": (),
    "language": (),
    "zoom": ("zoom_agent", "zoom_gold", "zoom_midpoint"),
    "imagine_without": ("imagine_without_agent", "imagine_without_gold", "imagine_without_walls", "imagine_walls_only"),
    "imagine_facing": ("imagine_facing",),
    "imagine_after_move": ("imagine_after_move",),
    "imagine_closer": ("imagine_closer",),
    "recall": ("look_at_scene", "recall"),
    "recall_routing": ("see_scene", "route_recall"),
    "memory_autoencode": ("memorise_view", "replay_view"),
    "readout_closer": ("readout_closer",),
    "readout_further": ("readout_further",),
    "readout_gold_upper_left": ("readout_gold_upper_left",),
    "value": ("value",),
    "compare": ("compare_intro", "compare_which"),
    "full_move": ("solve_game",),
}


def test_every_task_owns_its_kinds_in_its_own_file():
    for task, names in FIXED_KINDS.items():
        cls = registry.get(task)
        assert tuple(k.name for k in cls.question_kinds) == names
        assert cls(batch_size=2).kinds == names
    owners = {name: task for name, (task, _) in registry.question_kinds().items()}
    assert owners == {k: t for t, names in FIXED_KINDS.items() for k in names}
    with pytest.raises(ValueError, match="side_qa: no question kind 'no_such_kind'; its kinds: gold_left_right"):
        registry.get("side_qa").kind("no_such_kind")


def test_answer_vocabularies():
    kinds = _kinds()
    for name in ("gold_left_right", "agent_left_right", "gold_on_your_side", "facing_left_right"):
        assert kinds[name].answers == ("left", "right")
    for name in ("gold_up_down", "agent_up_down", "facing_up_down"):
        assert kinds[name].answers == ("up", "down")
    assert kinds["facing_which_way"].answers == ("left", "right", "up", "down")
    for name in ("facing_gold", "near_gold", "facing_line", "straight_collects"):
        assert kinds[name].answers == ("yes", "no")
    for name in ("turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line"):
        assert kinds[name].answers == ("<clock>", "<anticlock>")
    assert kinds["turn_toward_gold_word"].answers == ("clockwise", "anticlockwise")
    assert set(kinds["next_move"].answers) == {"<forward>", "<clock>", "<anticlock>"}
    assert kinds["draw_line_to_gold"].answers == kinds["copy_scene"].answers == ()


def test_canonical_sets_are_small_and_paraphrases_extend_them():
    for kind in _kinds().values():
        assert 2 <= len(kind.canonical) <= 4, kind.name
        full = kind.prompts(paraphrases=True)
        assert full[: len(kind.canonical)] == kind.canonical and len(full) > len(kind.canonical)


def test_no_prompt_in_two_kinds_across_every_task_and_no_merged_strings():
    """The registry-wide uniqueness rule, recomputed here over every registered task."""
    seen = {}
    for kind in _kinds().values():
        for text in kind.expand(paraphrases=True):
            key = " ".join(text.lower().split()).rstrip("?.!: ")
            assert seen.setdefault(key, kind.name) == kind.name, (text, seen[key], kind.name)
            assert text.count("?") <= 1
    kinds = _kinds()
    # wording of the egocentric question differs from the image-direction one
    assert all("your left" in p for p in kinds["gold_on_your_side"].prompts(True))
    assert not any("your left" in p for k in FIXED_KINDS["side_qa"] for p in kinds[k].prompts(True))


def test_kind_check_catches_duplicates_and_merged_strings():
    kinds = _kinds()
    check_kinds(kinds.values())
    stolen = kinds["turn_to_gold"].canonical[0]
    bad = {**kinds, "turn_away_from_gold": dataclasses.replace(kinds["turn_away_from_gold"],
                                                               paraphrases=(stolen.upper(),))}
    with pytest.raises(PromptRegistryError, match="'turn_to_gold' and in 'turn_away_from_gold'.*exactly one"):
        check_kinds(bad.values())
    cases = [
        (dict(canonical=kinds["near_gold"].canonical + ("IS THE GOLD close to you",)), "twice"),
        (dict(paraphrases=("is the gold  near",)), "whitespace"),
        (dict(paraphrases=("are you near?" "is it close?",)), "two '\\?'"),
        (dict(paraphrases=("is {thing} near?",)), "placeholder"),
        (dict(answers=("yes", "yes")), "repeats an answer"),
        (dict(canonical=()), "no canonical prompt"),
    ]
    for change, message in cases:
        bad = {**kinds, "near_gold": dataclasses.replace(kinds["near_gold"], **change)}
        with pytest.raises(PromptRegistryError, match=message):
            check_kinds(bad.values(), {"near_gold": "near_gold_qa"})
    with pytest.raises(PromptRegistryError, match="'near_gold' \\(task near_gold_qa\\) is declared twice"):
        check_kinds([kinds["near_gold"], kinds["near_gold"]], {"near_gold": "near_gold_qa"})


def _task(name, kinds, labels=("yes", "no")):
    return type("T", (TaskDataModule,), {"name": name, "label_names": labels, "question_kinds": kinds,
                                         "sample": lambda self, g, b: None})


def test_registering_a_task_checks_its_kinds_and_across_tasks():
    near = _kinds()["near_gold"]
    with pytest.raises(PromptRegistryError, match="answers \\['maybe'\\] of kind 'unsure' are not in its label_names"):
        registry.register(_task("unsure_qa", (QuestionKind("unsure", "always maybe", ("is it so?",), answers=("maybe",)),)))
    copy = dataclasses.replace(near, name="near_again")
    registry.register(_task("copycat_qa", (copy,)))
    try:
        with pytest.raises(PromptRegistryError, match="'are you near the gold\\?' appears in 'near_again' \\(task "
                                                      "copycat_qa\\) and in 'near_gold' \\(task near_gold_qa\\)"):
            registry.names()
    finally:
        registry.unregister("copycat_qa")
    registry.register(_task("twin_qa", (near,)))
    try:
        with pytest.raises(PromptRegistryError, match="declared by task 'near_gold_qa' and by task 'twin_qa'"):
            registry.names()
    finally:
        registry.unregister("twin_qa")
    assert "twin_qa" not in registry.names()


def test_action_tables_agree_with_the_game():
    # docs/game.md: 1 forward, 2 backward, 3 <clock> = clockwise in the image, 4 <anticlock>
    assert ACTION_TOKENS == {1: "<forward>", 2: "<backward>", 3: "<clock>", 4: "<anticlock>"}
    assert ACTION_NAMES == {1: "forward", 2: "backward", 3: "turn clockwise", 4: "turn anticlockwise"}
    # the action_names kinds pair the same id on both sides
    to_name, to_token = _kinds()["action_to_name"], _kinds()["name_to_action"]
    assert to_name.slot_values == tuple(ACTION_TOKENS[a] for a in (1, 2, 3, 4))
    assert to_name.answers == tuple(ACTION_NAMES[a] for a in (1, 2, 3, 4))
    assert to_token.slot_values == tuple(ACTION_NAMES[a] for a in (1, 2, 3, 4))
    assert to_token.answers == tuple(ACTION_TOKENS[a] for a in (1, 2, 3, 4))


# ---------------------------------------------------------------- tokenizer
def test_special_tokens(tok):
    assert tok.pad_id == 0 and tok.pad_id != tok.bos_id
    ids = tok.special_ids
    assert len(set(ids.values())) == len(ids) == 9
    assert [tok.id_to_token(ids[r]) for r in ("pad", "bos", "eos", "sep", "unk")] == ["<pad>", "<s>", "</s>", "<sep>", "<unk>"]
    assert tok.vocab_size > max(ids.values())


def test_action_tokens_are_single_ids(tok):
    for action, token in ACTION_TOKENS.items():
        assert tok.encode(token) == [tok.action_id(action)]
        assert tok.id_to_action[tok.action_id(action)] == action
    assert tok.encode("what does <clock> mean?").count(tok.action_id(3)) == 1
    acts = torch.tensor([[1, 2], [3, 4]])
    assert torch.equal(tok.ids_to_actions(tok.actions_to_ids(acts)), acts)
    assert tok.ids_to_actions(torch.tensor([tok.bos_id, -1, 10**6])).tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        tok.action_id(0)


def test_round_trip_every_prompt_and_answer(tok):
    for text in _language():
        assert tok.decode(tok.encode(text)) == text, text
    for kind in _kinds().values():
        for template in kind.prompts(paraphrases=True):
            assert tok.decode(tok.encode(template)) == template
        for answer in kind.answers:
            if " " not in answer:
                assert len(tok.encode(answer)) == 1, answer  # one-token answers keep answer CE simple
    weird = "Ünïcode ✓ and <sep> inside, tabs\tand\nnewlines"
    assert tok.decode(tok.encode(weird)) == weird
    assert tok.decode(tok.encode(weird), skip_special=True) == weird.replace("<sep>", "")


def test_shipped_tokenizer_is_built_from_the_task_language(tok):
    """Every word of the task language is one token; fails when prompts.py gained words but
    tokenizer.json was not rebuilt (python -m penguin.text.build_tokenizer)."""
    from tokenizers import pre_tokenizers

    words = pre_tokenizers.ByteLevel(add_prefix_space=False)
    special = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS.values()))
    for text in _language():
        for part in filter(None, special.split(text)):
            assert len(tok.encode(part)) == len(words.pre_tokenize_str(part)), part


def test_action_tokens_inside_a_prompt_are_their_own_ids(tok):
    empty = tok.encode("moves so far:")
    assert tok.encode("moves so far:<clock><anticlock><forward>") == empty + [tok.action_id(3), tok.action_id(4),
                                                                           tok.action_id(1)]


def test_overflow_raises_and_truncate_truncates(tok):
    text = "solve the game. moves so far:" + "<clock>" * 40
    n = len(tok.encode(text))
    with pytest.raises(TokenOverflowError, match=f"{n} tokens.*limit of 32.*max_len.*truncate=True"):
        tok.encode(text, max_len=32)
    assert tok.encode(text, max_len=32, truncate=True) == tok.encode(text)[:32]
    with pytest.raises(TokenOverflowError):
        tok.encode_batch(["show the room", text], 32)
    assert [len(r) for r in tok.encode_batch(["show the room", text], 32, truncate=True)] == [3, 32]
    with pytest.raises(TokenOverflowError):
        tok.encode_dialogue([text], ["yes"], 32, 4)


def test_encode_dialogue(tok):
    p, r = tok.encode_dialogue(["are you near the gold?", "show the room"], ["yes", None], 16, 5)
    assert p.shape == (2, 16) and r.shape == (2, 5) and p.dtype == r.dtype == torch.long
    assert p[:, 0].tolist() == [tok.bos_id] * 2
    n = len(tok.encode("are you near the gold?"))
    assert p[0, 1 : n + 1].tolist() == tok.encode("are you near the gold?") and (p[0, n + 1 :] == 0).all()
    assert r[0, :3].tolist() == [tok.sep_id, tok.encode("yes")[0], tok.eos_id] and (r[0, 3:] == 0).all()
    assert r[1, :2].tolist() == [tok.sep_id, tok.eos_id] and (r[1, 2:] == 0).all()
    assert tok.decode(p[0]) == "<s>are you near the gold?"
    with pytest.raises(ValueError):
        tok.encode_dialogue(["a"], ["b", "c"], 8, 8)


def test_prompt_table(tok):
    near_gold = _kinds()["near_gold"]
    table = PromptTable(tok, near_gold.prompts(True), max_len=12)
    assert table.ids.shape == (len(table), 12) and table.lengths.shape == (len(table),)
    for i, text in enumerate(table.strings):
        assert table.ids[i, : table.lengths[i]].tolist() == [tok.bos_id] + tok.encode(text)
        assert (table.ids[i, table.lengths[i] :] == tok.pad_id).all()
    assert table.index(near_gold.canonical[1]) == 1
    replies = PromptTable(tok, near_gold.answers, 3, role="reply")
    _, r = tok.encode_dialogue(["x", "x"], list(near_gold.answers), 4, 3)
    assert torch.equal(replies.ids, r)
    with pytest.raises(TokenOverflowError):
        PromptTable(tok, ["which way should you turn to face away from the gold?"], 4)
    cut = PromptTable(tok, ["which way should you turn to face away from the gold?"], 4, truncate=True)
    assert cut.lengths.tolist() == [4] and cut.ids[0, 0] == tok.bos_id


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="missing.json"):
        Tokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.load(bad)
    with pytest.raises(ValueError, match="vocab.json"):
        Tokenizer.from_vocab_merges(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_save_and_reload(tok, tmp_path):
    tok.save(tmp_path / "t.json")
    again = Tokenizer.load(tmp_path / "t.json")
    assert again.special_ids == tok.special_ids and again.vocab_size == tok.vocab_size


def test_external_vocab_merges(tmp_path):
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(["the gold is left of you", "are you near the gold?"] * 5, vocab_size=300,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    vocab, merges = trainer.save_model(str(tmp_path))
    original = json.loads((tmp_path / "vocab.json").read_text())
    assert original["<s>"] == 0 and original["<pad>"] == 1  # RoBERTa layout: <s> holds id 0

    tok = Tokenizer.from_vocab_merges(vocab, merges, {"pad": "<pad>", "bos": "<s>", "eos": "</s>",
                                                      "unk": "<unk>", "anticlock": "<mask>"})
    ids = tok.special_ids
    assert ids["pad"] == 0 and ids["bos"] == 1  # pad moved to 0, <s> took its old id
    assert ids["eos"] == original["</s>"] and ids["anticlock"] == original["<mask>"]
    assert len(set(ids.values())) == 9
    assert min(ids[r] for r in ("sep", "forward", "backward", "clock")) >= len(original)  # added
    assert tok.vocab_size == len(original) + 4
    assert tok.encode("<anticlock>") == [original["<mask>"]]
    for text in ["are you near the gold?", "what does <anticlock> mean?", "<s>the gold</s>"]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("the gold") == [original[t] for t in trainer.encode("the gold").tokens]
    with pytest.raises(ValueError, match="share one token"):
        Tokenizer.from_vocab_merges(vocab, merges, {"pad": "<pad>", "bos": "<pad>"})
    with pytest.raises(ValueError, match="unknown special roles"):
        Tokenizer.from_vocab_merges(vocab, merges, {"mask": "<mask>"})


# ---------------------------------------------------------------- build
def test_build_is_deterministic_and_covers_the_task_language(tmp_path):
    build_tokenizer.main(["--out", str(tmp_path / "a.json")])
    build_tokenizer.main(["--out", str(tmp_path / "b.json")])
    a = (tmp_path / "a.json").read_bytes()
    assert a == (tmp_path / "b.json").read_bytes()
    built = Tokenizer.load(tmp_path / "a.json")
    assert built.vocab_size <= build_tokenizer.DEFAULT_VOCAB_SIZE
    assert built.special_ids == Tokenizer.load().special_ids
    with pytest.raises(SystemExit):
        build_tokenizer.main(["--out", str(tmp_path / "c.json"), "--vocab-size", "100"])


# ---------------------------------------------------------------- corpus
def test_corpus_deterministic_varied_and_short(tok):
    a = sentences(torch.Generator().manual_seed(3), 2000)
    assert a == sentences(torch.Generator().manual_seed(3), 2000)
    assert a != sentences(torch.Generator().manual_seed(4), 2000)
    assert len(set(a)) > 1000
    assert all(s.endswith(".") and s == s.strip() for s in a)
    assert max(len(ids) for ids in tok.encode_batch(a)) <= 22
    assert sentences(torch.Generator(), 0) == []


def test_sentence_pool(tok, tmp_path):
    pool = SentencePool.procedural(tok, n=64, max_len=24, seed=1)
    assert pool.ids.shape == (64, 24) and (pool.ids[:, 0] == tok.bos_id).all()
    g = torch.Generator().manual_seed(0)
    rows = pool.ids[pool.draw(g, 8)]
    assert rows.shape == (8, 24)

    path = tmp_path / "s.txt"
    path.write_text("the gold is left of you.\n\n  a wall stands near the top.  \n")
    pool = SentencePool.from_file(path, tok, max_len=16)
    assert pool.strings == ("the gold is left of you.", "a wall stands near the top.")
    with pytest.raises(ValueError, match="missing.txt"):
        SentencePool.from_file(tmp_path / "missing.txt", tok, 16)
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="empty.txt"):
        SentencePool.from_file(tmp_path / "empty.txt", tok, 16)
    with pytest.raises(TokenOverflowError):
        SentencePool.from_file(path, tok, 4)
    assert SentencePool.from_file(path, tok, 4, truncate=True).lengths.tolist() == [4, 4]
