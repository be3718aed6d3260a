"""Tests of penguin.text: the prompt registry, the tokenizer, the corpus and the tokenizer build."""
import dataclasses
import json
import re

import pytest
import torch

from penguin.text import (
    ACTION_NAMES,
    ACTION_TOKENS,
    QUESTION_KINDS,
    SPECIAL_TOKENS,
    PromptRegistryError,
    PromptTable,
    SentencePool,
    TokenOverflowError,
    Tokenizer,
    answers,
    expand,
    kinds_of_task,
    moves_text,
    recall_prompts,
    sentences,
    verbal_moves,
)
from penguin.text import build_tokenizer
from penguin.text.prompts import check_registry, prompts, task_language


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.load()


# ---------------------------------------------------------------- prompt registry
FIXED_KINDS = {
    "side_qa": {"gold_left_right", "gold_up_down", "agent_left_right", "agent_up_down"},
    "egocentric_side_qa": {"gold_on_your_side"},
    "facing_gold_qa": {"facing_gold"},
    "near_gold_qa": {"near_gold"},
    "line_facing_qa": {"facing_line"},
    "turn_qa": {"turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line"},
    "next_move_qa": {"straight_collects", "turn_toward_gold_word", "next_move"},
    "action_names": {"action_to_name", "name_to_action"},
    "arrow": {"draw_line_to_gold", "copy_scene"},
}


def test_kind_names_and_owners():
    for task, names in FIXED_KINDS.items():
        assert set(kinds_of_task(task)) == names
    for name in ("zoom_agent", "zoom_gold", "zoom_midpoint", "imagine_without_agent", "imagine_without_gold",
                 "imagine_without_walls", "imagine_walls_only", "imagine_after_move", "imagine_closer",
                 "imagine_facing", "recall", "solve_game", "compare_intro", "compare_which",
                 "readout_closer", "readout_further", "readout_gold_upper_left", "control"):
        assert name in QUESTION_KINDS
    with pytest.raises(ValueError, match="unknown question kind"):
        prompts("no_such_kind")


def test_answer_vocabularies():
    assert answers("gold_left_right") == answers("agent_left_right") == answers("gold_on_your_side") == ("left", "right")
    assert answers("gold_up_down") == answers("agent_up_down") == ("up", "down")
    for kind in ("facing_gold", "near_gold", "facing_line", "straight_collects"):
        assert answers(kind) == ("yes", "no")
    for kind in ("turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line"):
        assert answers(kind) == ("<clock>", "<anticlock>")
    assert answers("turn_toward_gold_word") == ("clockwise", "anticlockwise")
    assert set(answers("next_move")) == {"<forward>", "<clock>", "<anticlock>"}
    assert answers("compare_which") == ("first", "second")
    assert answers("zoom_gold") == ()


def test_canonical_sets_are_small_and_paraphrases_extend_them():
    for kind in QUESTION_KINDS.values():
        if kind.name == "control":
            assert prompts("control") == ()
            continue
        assert 2 <= len(kind.canonical) <= 4 or kind.name.startswith("readout"), kind.name
        full = prompts(kind.name, paraphrases=True)
        assert full[: len(kind.canonical)] == kind.canonical and len(full) > len(kind.canonical)


def test_no_prompt_in_two_kinds_and_no_merged_strings():
    seen = {}
    for kind in QUESTION_KINDS.values():
        for text in kind.expand(paraphrases=True):
            key = " ".join(text.lower().split()).rstrip("?.!: ")
            assert seen.setdefault(key, kind.name) == kind.name, (text, seen[key], kind.name)
            assert text.count("?") <= 1
    # wording of the egocentric question differs from the image-direction one
    assert all("your left" in p for p in prompts("gold_on_your_side", True))
    assert not any("your left" in p for k in kinds_of_task("side_qa") for p in prompts(k, True))
    # zoom-gold prompts are their own, not another zoom's or the line's
    others = {p for k in ("zoom_agent", "zoom_midpoint", "draw_line_to_gold") for p in expand(k, True)}
    assert not others & set(expand("zoom_gold", True))


def test_registry_check_catches_duplicates_and_merged_strings():
    kinds = dict(QUESTION_KINDS)
    check_registry(kinds)
    stolen = prompts("turn_to_gold")[0]
    kinds["turn_away_from_gold"] = dataclasses.replace(
        kinds["turn_away_from_gold"], paraphrases=(stolen.upper(),))
    with pytest.raises(PromptRegistryError, match="'turn_to_gold' and in 'turn_away_from_gold'.*exactly one"):
        check_registry(kinds)
    kinds = dict(QUESTION_KINDS)
    kinds["near_gold"] = dataclasses.replace(
        kinds["near_gold"], canonical=kinds["near_gold"].canonical + ("IS THE GOLD close to you",))
    with pytest.raises(PromptRegistryError, match="twice"):
        check_registry(kinds)
    kinds = dict(QUESTION_KINDS)
    kinds["near_gold"] = dataclasses.replace(kinds["near_gold"], paraphrases=("is the gold  near",))
    with pytest.raises(PromptRegistryError, match="whitespace"):
        check_registry(kinds)
    kinds = dict(QUESTION_KINDS)
    kinds["near_gold"] = dataclasses.replace(
        kinds["near_gold"], paraphrases=("are you near?" "is it close?",))
    with pytest.raises(PromptRegistryError, match="two '\\?'"):
        check_registry(kinds)
    kinds = dict(QUESTION_KINDS)
    kinds["near_gold"] = dataclasses.replace(kinds["near_gold"], paraphrases=("is {thing} near?",))
    with pytest.raises(PromptRegistryError, match="placeholder"):
        check_registry(kinds)


def test_action_tables_agree_with_game_md():
    # GAME.md: 1 forward, 2 backward, 3 <clock> = clockwise in the image, 4 <anticlock>
    assert ACTION_TOKENS == {1: "<forward>", 2: "<backward>", 3: "<clock>", 4: "<anticlock>"}
    assert ACTION_NAMES == {1: "forward", 2: "backward", 3: "turn clockwise", 4: "turn anticlockwise"}
    # the action_names kinds pair the same id on both sides
    to_name = QUESTION_KINDS["action_to_name"]
    assert to_name.slot_values == tuple(ACTION_TOKENS[a] for a in (1, 2, 3, 4))
    assert to_name.answers == tuple(ACTION_NAMES[a] for a in (1, 2, 3, 4))
    to_token = QUESTION_KINDS["name_to_action"]
    assert to_token.slot_values == tuple(ACTION_NAMES[a] for a in (1, 2, 3, 4))
    assert to_token.answers == tuple(ACTION_TOKENS[a] for a in (1, 2, 3, 4))


def test_verbal_moves_recall_and_moves_text():
    moves = dict(verbal_moves())
    assert moves["turn a little clockwise"] == (3,) * 5
    assert moves["turn a lot anticlockwise"] == (4,) * 10
    assert moves["take one step forward"] == (1,)
    assert moves["turn around"] == (3,) * 30
    assert moves["turn a little anticlockwise and take two steps forward"] == (4,) * 5 + (1, 1)
    assert len(moves) == len(verbal_moves())
    assert recall_prompts(0) == ("show the current view",)
    assert recall_prompts(2) == ("show the view from two steps ago",)
    assert all("three steps ago" in p for p in recall_prompts(3, paraphrases=True))
    with pytest.raises(ValueError):
        recall_prompts(4)
    assert moves_text([3, 3, 1]) == "<clock><clock><forward>" and moves_text([]) == ""
    with pytest.raises(ValueError):
        moves_text([0])


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
    for text in task_language():
        assert tok.decode(tok.encode(text)) == text, text
    for kind in QUESTION_KINDS.values():
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
    for text in task_language():
        for part in filter(None, special.split(text)):
            assert len(tok.encode(part)) == len(words.pre_tokenize_str(part)), part


def test_solve_game_ids_are_prefix_plus_action_ids(tok):
    for template in prompts("solve_game", paraphrases=True):
        empty = tok.encode(template.format(moves=""))
        filled = tok.encode(template.format(moves=moves_text([3, 4, 1])))
        assert filled == empty + [tok.action_id(3), tok.action_id(4), tok.action_id(1)]


def test_overflow_raises_and_truncate_truncates(tok):
    text = "solve the game. moves so far:" + moves_text([3] * 40)
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
    table = PromptTable(tok, prompts("near_gold", True), max_len=12)
    assert table.ids.shape == (len(table), 12) and table.lengths.shape == (len(table),)
    for i, text in enumerate(table.strings):
        assert table.ids[i, : table.lengths[i]].tolist() == [tok.bos_id] + tok.encode(text)
        assert (table.ids[i, table.lengths[i] :] == tok.pad_id).all()
    assert table.index(prompts("near_gold")[1]) == 1
    replies = PromptTable(tok, answers("near_gold"), 3, role="reply")
    _, r = tok.encode_dialogue(["x", "x"], list(answers("near_gold")), 4, 3)
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
