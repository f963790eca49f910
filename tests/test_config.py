import pytest

from pte.config import ConfigError, apply_overrides


def ns():
    return {"EPOCHS": 10, "LR": 1e-3, "SETTING": "longtail", "WANDB": False, "KS": (10, 20), "helper": 1}


def test_both_forms_and_types():
    g = ns()
    cfg = apply_overrides(g, ["--epochs", "5", "--lr=0.01", "--wandb", "true", "--ks=5,10"])
    assert (g["EPOCHS"], g["LR"], g["WANDB"], g["KS"]) == (5, 0.01, True, (5, 10))
    assert cfg["epochs"] == 5 and "helper" not in cfg


@pytest.mark.parametrize("argv, needle", [
    (["--epoch", "5"], "unknown option --epoch"),
    (["--epochs", "five"], "expects int"),
    (["--wandb", "maybe"], "expects bool"),
    (["--epochs"], "needs a value"),
    (["positional"], "unexpected argument"),
])
def test_errors_list_valid_keys(argv, needle):
    with pytest.raises(ConfigError) as e:
        apply_overrides(ns(), argv)
    assert needle in str(e.value)
    if "unknown" in needle:
        assert "epochs, ks, lr, setting, wandb" in str(e.value)


def test_choices_and_extra_namespaces():
    g, method = ns(), {"PTE_HIDDEN": 32}
    with pytest.raises(ConfigError, match="must be one of"):
        apply_overrides(g, ["--setting", "warm"], choices={"SETTING": ("coldstart", "longtail")})
    apply_overrides(g, ["--pte_hidden", "8"], extra=[method])
    assert method["PTE_HIDDEN"] == 8


def test_imported_constants_are_not_options(tmp_path):
    """A constant a script imports belongs to its module: --<it> would change nothing, so it is refused."""
    script = tmp_path / "script.py"
    script.write_text("from pte.llm.data import RECENT_ITEMS\nEPOCHS = 10\nif True:\n    LR, SEED = 1e-3, 0\n"
                      "def f():\n    INNER = 1\n")
    g = {"__file__": str(script), "RECENT_ITEMS": 2, "EPOCHS": 10, "LR": 1e-3, "SEED": 0, "INNER": 1}
    assert apply_overrides(g, ["--lr", "0.1"]) == {"epochs": 10, "lr": 0.1, "seed": 0}
    with pytest.raises(ConfigError, match="unknown option --recent_items"):
        apply_overrides(g, ["--recent_items", "3"])
