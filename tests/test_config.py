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
