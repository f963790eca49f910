"""Profile-stage prompts: no validation/test target leaks into any prompt; shapes; masking."""
from __future__ import annotations

import numpy as np
import pytest

from pte.llm import data as D
from pte.llm import prompts as P
from pte.llm.teacher import item_job, user_job

N_SAMPLE = 120  # users/items per prompt type and setting (all of them would take ~1 min)


def _text(messages: list[dict], upto: int | None = None) -> str:
    return "\n".join(m["content"] for m in messages[:upto] if m["role"] != "assistant")


def _targets(split) -> dict[int, set[int]]:
    """user -> their validation and test target items."""
    out: dict[int, set[int]] = {}
    for part in (split.valid, split.test):
        for u, t in zip(part.users.tolist(), part.targets.tolist()):
            out.setdefault(int(u), set()).add(int(t))
    return out


def _check(ds, split, subject: int | None, text: str, prov, targets, train_pairs, eval_users, kind):
    """The leakage rules, on the rendered text and on the recorded (user, item) provenance."""
    for u, i in prov:
        assert (u, i) in train_pairs, f"{kind}: ({u}, {i}) shown but is not a training interaction"
        assert u not in eval_users, f"{kind}: coldstart validation/test user {u} appears in a prompt"
    if subject is None:
        return
    own = {i for u, i in prov if u == subject}
    for t in targets.get(subject, ()):
        if t in set(split.train_sequence(subject).tolist()):
            continue  # consumed again later: a training item in its own right
        assert t not in own, f"{kind}: target {t} of user {subject} shown as the user's own item"
        # the target's text may appear only as another user's training item (a co-chooser's)
        mentions = text.count(D.short_title(ds, t))  # own items show it too, inside their full text
        by_others = sum(1 for u, i in prov if i == t and u != subject)
        assert mentions <= by_others, f"{kind}: text of target {t} of user {subject} appears unattributed"


@pytest.mark.parametrize("setting", ["longtail", "coldstart"])
def test_no_validation_or_test_target_in_any_prompt(ml100k, splits, setting):
    ds, split = ml100k, splits[setting]
    view = D.TrainView(ds, split)
    targets = _targets(split)
    train_pairs = set(zip(*[a.tolist() for a in split.train_pairs]))
    eval_users = set(split.valid.users.tolist()) | set(split.test.users.tolist()) if setting == "coldstart" else set()
    if setting == "coldstart":
        assert not eval_users & set(view.train_users.tolist())
    rng = np.random.default_rng(0)
    users = sorted(rng.choice(view.train_users, N_SAMPLE, replace=False).tolist())
    items = sorted(rng.choice(ds.n_items, N_SAMPLE, replace=False).tolist())
    bank_u = {u: "User identity: someone; User interests: films; Likely next: a" for u in users}
    co = view.item_neighbours(items, D.N_CO_CHOSEN)

    for u in users:
        rec = D.user_record(view, u)
        _check(ds, split, u, rec.text, rec.provenance, targets, train_pairs, eval_users, "user record")
        e = D.kd_example(view, u, bank_u[u])
        _check(ds, split, u, _text(e.messages), e.provenance, targets, train_pairs, eval_users, "sft_base")
        e = D.mask_example(view, u, bank_u, seed=1)
        _check(ds, split, u, _text(e.messages, 2), e.provenance, targets, train_pairs, eval_users, "sft_base_mask")
        held = e.extra["heldout"][0]
        assert held in split.train_sequence(u) and (u, held) not in e.provenance  # masked from turn 1
        q, seq = e.extra["question_item"], set(split.train_sequence(u).tolist())
        if e.extra["answer"] == P.YES:
            assert q == held  # turn 2 asks about the masked training item
        else:  # an item others chose in training, chosen without looking at this user's targets
            assert q not in seq and any((v, q) in train_pairs for v in view.train_users)
        g = D.grpo_example(view, u, 3, 20, seed=1)
        if g is not None:
            _check(ds, split, u, _text(g.messages), g.provenance, targets, train_pairs, eval_users, "grpo")
            seq = set(split.train_sequence(u).tolist())
            assert set(g.extra["heldout"]) <= seq and not {(u, h) for h in g.extra["heldout"]} & set(g.provenance)
            assert not set(g.extra["candidates"][len(g.extra["heldout"]):]) & seq
        j = user_job(view, u, None, "hf", 10)
        _check(ds, split, u, _text(j.messages), rec.provenance, targets, train_pairs, eval_users, "teacher user")
        for t in j.meta["picks"]:  # the teacher's collaborative field names only titles the record shows
            assert t in rec.text

    for i in items:
        rec = D.item_record(view, i, co[i])
        _check(ds, split, None, rec.text, rec.provenance, targets, train_pairs, eval_users, "item record")
        choosers = set(view.choosers(i).tolist())
        for v, j in rec.provenance:  # whoever is listed chose the item, or chose it together with the item
            assert i in split.train_sequence(v) and (j == i or v in choosers)
        job = item_job(view, i, co[i], None, "hf", 4)
        _check(ds, split, None, _text(job.messages), rec.provenance, targets, train_pairs, eval_users, "teacher item")


def test_coldstart_cold_users_have_no_prompt_material(ml100k, splits):
    split = splits["coldstart"]
    view = D.TrainView(ml100k, split)
    cold = sorted(set(split.test.users.tolist()))[:5]
    for u in cold:
        rec = D.user_record(view, u)
        assert rec.provenance == [] and P.NO_ITEMS in rec.text and rec.picks == []
        assert view.ui[u].nnz == 0                    # so never a co-chooser in anyone's record
        assert D.grpo_example(view, u, 3, 20) is None and D.mask_example(view, u, {u: "x"}) is None


def test_profile_shape_checks():
    good = ("User identity: A 24-year-old male technician; User interests: Enjoys clever comedies and thrillers; "
            "Likely next: Fargo (1996); Contact (1997); Scream (1996)")
    assert P.check_profile(good, "user") is None
    assert P.picks_of(good, "user") == ["Fargo (1996)", "Contact (1997)", "Scream (1996)"]
    assert P.check_profile("", "user") == "empty"
    assert "shape" in P.check_profile("User identity: someone who likes films", "user")
    assert "shape" in P.check_profile("User identity: a; User interests: films", "user")  # no collaborative field
    assert P.check_profile("User identity: x; User interests: " + "crime " * 20 + "; Likely next: a", "user") == \
        "repetitive"
    item = "Item summary: Toy Story (1995); Suited for: families with young kids; Often chosen with: Fargo (1996)"
    assert P.check_profile(item, "item") is None
    assert P.format_score(good, "user") == 1.0 > P.format_score("User identity: a", "user")
    assert P.split_profile(good, "user")[1].startswith("Enjoys")
    assert P.profile("user", "x", "y", []) == f"User identity: x; User interests: y; Likely next: {P.NO_ITEMS}"
    assert "no listed title" in P.check_profile("User identity: x y z; User interests: films; Likely next: 2, 1", "user")


def test_picked_numbers_become_titles():
    """The model picks by number; the profile holds the titles, in its order, without repeats or strays."""
    options = ["Fargo (1996)", "Contact (1997)", "Scream (1996)", "Heat (1995)"]
    line = P.answer("user", "A 24-year-old male technician", "Enjoys thrillers", [4, 2, 4, 9])
    assert line.endswith("Likely next: 4, 2, 4, 9")
    assert P.resolve(line, "user", options) == ("User identity: A 24-year-old male technician; User interests: "
                                                "Enjoys thrillers; Likely next: Heat (1995); Contact (1997)")
    assert P.resolve(line.replace("4, 2, 4, 9", "7, 8"), "user", options) is None   # names nothing listed
    assert P.resolve("User identity: x", "user", options) is None
    assert P.resolve(line.replace("4, 2, 4, 9", P.NO_ITEMS), "user", []).endswith(P.NO_ITEMS)  # nothing to pick


def _brute_co_chosen(view, anchors, seen, n, without=None) -> list[int]:
    """The candidates by definition: users who chose the item and an anchor, summed over the anchors,
    over sqrt(the item's choosers); ties lower id first; never ``seen``, never a zero score."""
    choosers = [set(view.choosers(i).tolist()) - {without} for i in range(view.ds.n_items)]
    n_choosers = [len(view.choosers(i)) for i in range(view.ds.n_items)]
    score = {i: sum(len(choosers[i] & choosers[a]) for a in set(anchors)) / np.sqrt(max(n_choosers[i], 1))
             for i in range(view.ds.n_items) if i not in set(seen)}
    return sorted((i for i in score if score[i] > 0), key=lambda i: (-score[i], i))[:n]


def test_records_rank_the_evidence(ml100k, splits):
    """A user record's candidates are the titles most often chosen together with the user's last two
    training items, strongest first, never the user's own; the teacher's collaborative field is its
    top titles, and the profile's facts come from the same record."""
    view = D.TrainView(ml100k, splits["longtail"])
    u = int(view.train_users[7])
    seq = view.sequence(u).tolist()
    rec = D.user_record(view, u)
    cand = view.co_chosen_with(seq[-2:], seq, D.N_CANDIDATES)
    assert [D.short_title(ml100k, i) for i, _, _ in cand] == rec.options and len(cand) == D.N_CANDIDATES
    assert [i for i, _, _ in cand] == _brute_co_chosen(view, seq[-2:], seq, D.N_CANDIDATES)
    for i, n, v in cand:   # the count and the witness: users who chose the title with an anchor
        assert n == sum(len(set(view.choosers(i).tolist()) & set(view.choosers(a).tolist())) for a in seq[-2:])
        assert i in view.sequence(v) and set(seq[-2:]) & set(view.sequence(v).tolist())
    assert not {i for i, _, _ in cand} & set(seq)
    lines = rec.text.split("strongest first:\n")[1].splitlines()
    assert [line.split(". ", 1)[1] for line in lines] == rec.options   # titles only, no counts
    assert rec.picks == rec.options[:P.N_PICKS] and rec.pick_numbers == [1, 2, 3]
    assert rec.head.startswith(("A ", "An ")) and D.user_desc(ml100k, u) in rec.head
    i = int(view.train_items[3])
    irec = D.item_record(view, i, view.item_neighbours([i], D.N_CO_CHOSEN)[i])
    assert irec.head.startswith(D.short_title(ml100k, i)) and len(irec.picks) == P.N_PICKS


def test_records_without_user_attributes_claim_none(ml100k, splits):
    """A dataset whose users carry no attributes (Amazon's reviewers) gets no invented audience: no
    gender in "Suited for", no "An a user" identity, no empty chooser descriptions in item records."""
    import copy
    ds = copy.copy(ml100k)
    ds.users = [{} for _ in ml100k.users]
    view = D.TrainView(ds, splits["longtail"])
    u, i = int(view.train_users[7]), int(view.train_items[3])
    assert D.identity(ds, u, []) == "A user"
    assert D.identity(ds, u, ["Drama"]) == "A user who mostly chooses Drama movies"
    words = D.audience_words(view, i)
    assert "women" not in words and "men" not in words and str(len(view.choosers(i))) in words
    irec = D.item_record(view, i, view.item_neighbours([i], D.N_CO_CHOSEN)[i])
    assert "a user" not in irec.text and f"For example: {P.NO_ITEMS}" in irec.text
    full = D.TrainView(ml100k, splits["longtail"])   # with attributes, the audience is described as before
    assert D.audience_words(full, i).startswith(("mostly men", "mostly women", "men and women"))


def test_held_out_items_are_never_anchors(ml100k, splits):
    """GRPO and (b) hide training items from the record: its candidates follow the last two items it
    still shows, and the user's own interactions never rank a hidden item."""
    view = D.TrainView(ml100k, splits["longtail"])
    bank = {int(u): "User identity: someone; User interests: films; Likely next: a" for u in view.train_users}
    differs = 0
    for u in view.train_users[::53].tolist():
        seq = view.sequence(u).tolist()
        for e in (D.grpo_example(view, u, 3, 20, seed=2), D.mask_example(view, u, bank, seed=2)):
            if e is None:
                continue
            held = set(e.extra["heldout"])
            shown = [i for i in seq if i not in held]
            anchors = shown[-2:]
            assert not set(anchors) & held
            want = _brute_co_chosen(view, anchors, shown, D.N_CANDIDATES, without=u)
            assert e.extra["options"] == [D.short_title(ml100k, i) for i in want], (e.id, anchors)
            differs += want != _brute_co_chosen(view, seq[-2:], shown, D.N_CANDIDATES, without=u)
    assert differs > 0   # the check has teeth: anchors that included the hidden items would show


def test_tokenize_chat_labels_only_the_answers(ml100k, splits):
    """Loss masking: every labelled token lies in an assistant turn, and each turn is labelled whole."""
    from pte.llm.model import load_tokenizer
    tok = load_tokenizer()
    view = D.TrainView(ml100k, splits["longtail"])
    bank = {u: f"User identity: user {u}; User interests: films {u}; Likely next: a" for u in range(40)}
    e = D.mask_example(view, 3, bank, seed=0)
    enc = D.tokenize_chat(tok, e.messages)
    labelled = tok.decode([t for t, l in zip(enc["input_ids"], enc["labels"]) if l != -100])
    answers = [m["content"] for m in e.messages if m["role"] == "assistant"]
    for a in answers:
        assert a in labelled
    held_text = ml100k.item_text(e.extra["heldout"][0])
    assert held_text not in labelled and "chosen together" not in labelled and "Will this user" not in labelled
    # nothing but the answers and their end-of-turn markers is labelled
    rest = labelled
    for a in answers:
        rest = rest.replace(a, "", 1)
    assert set(rest.replace("<|im_end|>", "").split()) == set()


def test_shared_view_holds_only_training_interactions_of_both_settings(ml100k, splits):
    """--setting both: adapters and item profiles trained on it may serve either setting."""
    view = D.train_view(ml100k, "both")
    pairs = set(zip(*[a.tolist() for a in view.split.train_pairs]))
    for setting in ("coldstart", "longtail"):
        assert pairs <= set(zip(*[a.tolist() for a in splits[setting].train_pairs])), setting
    cold = splits["coldstart"]
    eval_users = set(cold.valid.users.tolist()) | set(cold.test.users.tolist())
    assert not eval_users & set(view.train_users.tolist())
    long_targets = set(zip(splits["longtail"].valid.users.tolist(), splits["longtail"].valid.targets.tolist())) | \
        set(zip(splits["longtail"].test.users.tolist(), splits["longtail"].test.targets.tolist()))
    assert not pairs & long_targets
    assert len(pairs) > 0.6 * len(splits["longtail"].train_items)  # most of the data is still there


def test_recent_picks_follow_the_latest_training_items(ml100k, splits):
    """co_chosen_with, for every user: the items most chosen together with their last training items
    (co-choosers over sqrt(choosers), brute force), never an item of their own, and never anything
    from validation/test (only the view's training interactions are counted); the grounded line's
    picks are its first titles."""
    view = D.TrainView(ml100k, splits["longtail"])
    users = view.train_users[::37]
    for u in users.tolist():
        seq = view.sequence(u).tolist()
        got = [i for i, _, _ in view.co_chosen_with(seq[-2:], seq, 6)]
        assert got == _brute_co_chosen(view, seq[-2:], seq, 6), u
        assert not set(got) & set(seq)
    u = int(users[0])
    line = D.grounded("user", D.user_record(view, u))
    seq = view.sequence(u).tolist()
    picks = [i for i, _, _ in view.co_chosen_with(seq[-2:], seq, P.N_PICKS)]
    assert line.endswith("; ".join(D.short_title(ml100k, i) for i in picks))



def test_negatives_are_distinct_items_never_chosen_in_training(ml100k, splits):
    view = D.TrainView(ml100k, splits["longtail"])
    for u in view.train_users[:50].tolist():
        seq = set(int(i) for i in view.sequence(u))
        negs = D.training_negatives(view, u, 50, seed=3)
        assert len(set(negs)) == 50 and not set(negs) & seq   # a repeated draw once counted twice in GRPO's ranking
        assert negs == D.training_negatives(view, u, 50, seed=3) != D.training_negatives(view, u, 50, seed=4)
        g = D.grpo_example(view, u, 3, 20, seed=3)
        if g is not None:
            assert len(set(g.extra["candidates"])) == len(g.extra["candidates"])
