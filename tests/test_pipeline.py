"""The pipeline module: artifact paths, the stage table, and scheduling from what methods read.
A toy method (one file + one registry line) and a toy backbone (one registry line) are planned
and run by the same code reproduce.py uses, with a runner that records instead of running."""
import json
import threading
import time

import pytest

from pte import pipeline, reps

TOY_METHOD = '''
from pte.reps.base import Base


class Toy(Base):
    """ID embeddings that also read the item profiles (to be scheduled after them)."""
    READS = {"item_emb": "item_profile"}
'''


def test_artifact_paths_follow_the_layout(monkeypatch, tmp_path):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path))
    assert pipeline.artifact_path("ml-100k", "item_profile", "coldstart") == \
        tmp_path / "ml-100k" / "both" / "embeddings" / "item_profile.npy"      # shared by both settings
    assert pipeline.artifact_path("ml-100k", "user_profile", "longtail") == \
        tmp_path / "ml-100k" / "longtail" / "embeddings" / "user_profile.npy"  # per setting
    assert pipeline.artifact_path("ml-100k", "adapter/grpo", "longtail") == tmp_path / "ml-100k" / "both" / "adapters" / "grpo"
    assert pipeline.artifact_path("ml-100k", "teacher_items", "longtail").name == "items.jsonl"
    with pytest.raises(KeyError, match="no stage writes 'user_profile' for coldstart"):
        pipeline.maker("user_profile", "coldstart")


def test_needed_walks_back_to_the_teacher():
    names = [s.name for s in pipeline.needed([("item_profile_aligned", "coldstart")])]
    assert names == ["teacher", "sft_base (a)", "sft_base_mask (b)", "sft_base_item (d)", "inference_base_item",
                     "align (coldstart)"]
    longtail = [s.name for s in pipeline.needed([("user_profile_aligned", "longtail")])]
    assert "rl_training (c, GRPO)" in longtail and "inference_base_mask (longtail)" in longtail
    assert pipeline.needed([("item_text", "longtail")])[0].name == "prepare"


def test_a_longtail_only_dataset_has_no_coldstart_stage():
    longtail_only = [s.name for s in pipeline.STAGES if s.llm and s.settings <= {"longtail"}]
    assert "align (coldstart)" not in longtail_only and "align (longtail)" in longtail_only
    assert "teacher" in longtail_only   # shared stages have no setting of their own


def fake_outputs(stage: pipeline.Stage, data: str) -> None:
    """Write the completion markers a stage's outputs would have."""
    for name, setting in stage.outputs:
        path = pipeline.artifact_path(data, name, setting)
        if path.suffix == ".npy":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            path.with_suffix(".json").write_text("{}")
        elif path.suffix == ".jsonl":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "pte_stage.json").write_text("{}")


def test_toy_method_and_backbone_are_scheduled_after_what_they_read(monkeypatch, tmp_path):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path / "outputs"))
    (tmp_path / "toy_method.py").write_text(TOY_METHOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(reps.METHODS, "toy", "toy_method:Toy")                       # the method's line
    monkeypatch.setitem(pipeline.BACKBONES, "ToyNet", "base_models/ToyNet/Main.py")  # the backbone's line

    runs = pipeline.plan_runs(["longtail"], ["ToyNet"], lambda s, b: ["base", "toy"], [7])
    assert [(r.method, r.reads) for r in runs] == [("base", {}), ("toy", {"item_emb": "item_profile"})]
    stages = [s for s in pipeline.needed((a, r.setting) for r in runs for a in r.reads.values()) if s.llm]
    assert stages[-1].name == "inference_base_item" and "align (longtail)" not in [s.name for s in stages]

    events, lock, base_started = [], threading.Lock(), threading.Event()

    def runner(name, command, threads):
        with lock:
            events.append(("start", name, command))
        if name == "ToyNet longtail base seed 7":
            base_started.set()
        # the teacher ends only once the run that reads nothing has started beside it (or after 30 s, when a
        # scheduler that makes it wait fails below): no race with a loaded machine's thread timing
        if name == "teacher":
            base_started.wait(30)
        else:
            time.sleep(0.05)
        for s in stages:
            if s.name == name:
                fake_outputs(s, "ml-100k")
        with lock:
            events.append(("end", name, command))

    failed = pipeline.execute("ml-100k", stages, runs, set(), runner, tag="main", jobs=2)
    assert failed == []
    order = [(kind, name) for kind, name, _ in events]
    toy = "ToyNet longtail toy seed 7"
    assert order.index(("start", toy)) > order.index(("end", "inference_base_item"))
    assert order.index(("start", "ToyNet longtail base seed 7")) < order.index(("end", "teacher"))  # no waiting
    command = next(c for kind, name, c in events if name == toy)
    assert command[0] == "base_models/ToyNet/Main.py"
    assert command[command.index("--item_emb") + 1].endswith("outputs/ml-100k/both/embeddings/item_profile.npy")
    llm_order = [n for kind, n in order if kind == "start" and n in {s.name for s in stages}]
    assert llm_order == [s.name for s in stages]

    # everything complete now: a second pass runs nothing but the backbone runs not yet recorded as done
    events.clear()
    pipeline.execute("ml-100k", stages, runs, {r.key for r in runs}, runner, tag="main", jobs=2)
    assert events == []


def test_a_failed_stage_stops_the_runs_that_need_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path))
    runs = pipeline.plan_runs(["coldstart"], ["SASRec"], lambda s, b: ["base", "pte"], [1])
    stages = [s for s in pipeline.needed((a, r.setting) for r in runs for a in r.reads.values()) if s.llm]
    ran = []

    def runner(name, command, threads):
        if name == "teacher":
            raise SystemExit("error: stage teacher failed (exit 1)\nsee its log")
        ran.append(name)

    with pytest.raises(SystemExit, match="teacher failed"):
        pipeline.execute("ml-100k", stages, runs, set(), runner, tag="main", jobs=2)
    assert ran == ["SASRec coldstart base seed 1"]


def test_unknown_backbone_names_the_registry():
    with pytest.raises(SystemExit, match="pte/pipeline.py"):
        pipeline.plan_runs(["longtail"], ["NoSuchNet"], lambda s, b: ["base"], [1])


def test_the_profile_stage_seed_reaches_every_llm_side_script():
    for s in pipeline.STAGES:
        cmd = s.command("ml-100k", seed=3)
        assert (cmd[-2:] == ["--seed", "3"]) == s.llm, s.name
        assert "--seed" not in s.command("ml-100k"), s.name


def test_needed_stops_at_artifacts_already_complete(monkeypatch, tmp_path):
    """Profiles restored from the shipped texts need no adapters: only the alignment runs."""
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path))
    emb = pipeline.artifact_path("ml-100k", "item_profile", "coldstart")
    emb.parent.mkdir(parents=True)
    emb.write_bytes(b"")
    assert len(pipeline.needed([("item_profile_aligned", "coldstart")], "ml-100k")) == 6   # no sidecar: incomplete
    emb.with_suffix(".json").write_text("{}")
    assert [s.name for s in pipeline.needed([("item_profile_aligned", "coldstart")], "ml-100k")] == ["align (coldstart)"]
    longtail = [s.name for s in pipeline.needed([("user_profile_aligned", "longtail")], "ml-100k")]
    assert "sft_base_item (d)" not in longtail and "rl_training (c, GRPO)" in longtail   # its user profiles are missing
    assert len(pipeline.needed([("item_profile_aligned", "coldstart")])) == 6   # without data: the whole chain
