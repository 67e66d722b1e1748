import pytest
from tracing import count_traces

import rsim
from rsim.checks import ConfigError
from rsim.experiments.cells import CellSpec


@pytest.mark.parametrize(
    "values,message",
    [
        ({"model": "res4"}, "model='res4' is not allowed; choose one of res1, res2, res3, mlp"),
        ({"init": "normal"}, "init='normal' is not allowed; choose one of gaussian, uniform"),
        ({"activation": "gelu"}, "activation='gelu' is not allowed"),
        ({"model": "res3", "activation": "tanh"}, "res3 is defined with relu only"),
        ({"width": 0}, "width=0 is not allowed; it must be an integer >= 1"),
        ({"width": 2.5}, "width=2.5 is not allowed"),
        ({"width": True}, "width=True is not allowed"),
        ({"depth": 0}, "depth=0"),
        ({"samples": -4}, "samples=-4"),
        ({"seed": -1}, "seed=-1 is not allowed; it must be an integer >= 0"),
        ({"betas": [0.5, float("nan")]}, "betas=nan is not allowed; it must be a finite number"),
        ({"betas": []}, "betas=[] is not allowed"),
        ({"gain": -1.0}, "gain=-1.0 is not allowed; it must be a finite number > 0"),
        ({"gain": float("inf")}, "gain=inf"),
        ({"gradients": "backprop"}, "gradients='backprop' is not allowed; choose one of none, jvp"),
        ({"precision": "float16"}, "precision='float16'"),
        ({"plots": ["heatmap", "heat_map"]}, "^plots='heat_map' is not allowed; choose one of "),
        (
            {"model": "mlp", "branch_depth": 0},
            "^branch_depth=0 is not allowed; it must be an integer >= 1$",
        ),
        ({"model": "conv", "branch_depth": -1}, "^branch_depth=-1 is not allowed"),
        ({"model": "mlp", "branch_depth": 1.5}, "^branch_depth=1.5 is not allowed"),
        ({"model": "conv", "kernel_size": 4}, "^kernel_size=4 is not allowed; it must be odd"),
        (
            {"model": "conv", "image_size": 4, "kernel_size": 5},
            "^kernel_size=5 is not allowed; it must be <= image_size=4",
        ),
        ({"model": "conv", "image_size": 0}, "^image_size=0 is not allowed"),
        (
            {"model": "mlp", "image_size": 8},
            "^image_size=8 is not allowed with model='mlp'; only model=conv has images$",
        ),
        ({"model": "res3", "kernel_size": 3}, "^kernel_size=3 is not allowed with model='res3'"),
        (
            {"model": "res2", "branch_depth": 2},
            "^branch_depth=2 is not allowed with model='res2'; its branch is fixed",
        ),
        ({"model": "res1", "branch_depth": 1}, "^branch_depth=1 is not allowed with model='res1'"),
        (
            {"model": "conv", "sampler": "projection", "init": "gaussian"},
            "^sampler='projection' is not allowed with model='conv'; a convolution's matrix "
            "repeats each kernel entry",
        ),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        CellSpec.from_config(values)
    assert "\n" not in str(e.value)


def test_a_key_the_experiment_does_not_use_is_refused_naming_it():
    with pytest.raises(ConfigError, match="lrs is not an option of experiment=cells"):
        CellSpec.from_config({"lrs": [1.0]})
    with pytest.raises(ConfigError, match="depths is not an option of experiment=cells"):
        rsim.simulate(depths=[10, 20])


def test_simulate_validates_before_computing():
    with count_traces() as traces, pytest.raises(ConfigError, match="width"):
        rsim.simulate(width=0)
    assert not traces  # nothing traced, so nothing compiled or run


def test_digest_ignores_chunk_and_tracks_everything_else():
    base = CellSpec()
    assert CellSpec(chunk=512).digest() == base.digest()
    assert CellSpec(plots=["heatmap"]).digest() == base.digest()  # figures are analysis
    assert CellSpec(seed=1).digest() != base.digest()
    assert CellSpec(betas=(0.5,)).digest() != base.digest()
