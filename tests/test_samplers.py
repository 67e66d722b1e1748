"""The sampler registry (rsim.core.samplers): found by name, refused by name, and all that
the engine reads of a sampler."""

import dataclasses

import numpy as np
import pytest
from conftest import make_kernel

from rsim import schema
from rsim.core import branches, engine, samplers
from rsim.core.samplers.explicit import Explicit


def test_the_registry_is_the_schemas_vocabulary():
    assert tuple(samplers.SAMPLERS) == schema.SAMPLERS
    for name, sampler in samplers.SAMPLERS.items():
        assert sampler.name == name and samplers.sampler(name) is sampler


def test_an_unknown_sampler_is_refused_in_one_line_naming_the_choices():
    with pytest.raises(ValueError, match=r"^unknown sampler 'exact'; choose one of ") as error:
        samplers.sampler("exact")
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in schema.SAMPLERS)


@pytest.mark.parametrize("model", schema.MODELS)
@pytest.mark.parametrize("init", schema.LAWS)
def test_where_each_sampler_is_exact(init, model):
    assert samplers.sampler("explicit").exact_for(init, model)
    projection = init in schema.PROJECTION_LAWS and model in schema.PROJECTION_MODELS
    assert samplers.sampler("projection").exact_for(init, model) == projection


@pytest.mark.parametrize(
    "options", [dict(model="conv", init="gaussian", width=2, image_size=4), dict(init="uniform")]
)
def test_the_engine_refuses_a_sampler_where_it_is_not_exact(options):
    kernel = make_kernel(depth=3, block=2, **options)  # explicit: valid
    kernel = dataclasses.replace(kernel, sampler="projection")
    with pytest.raises(ValueError, match="^the projection sampler is not exact in law for "):
        engine.run(kernel, [0.5], samples=2, seed=0, progress=False)


def test_the_block_rule_is_the_samplers():
    res3 = branches.Shape("res3", 40)
    # 2^16 numbers / (2 matrices x 40) = 819 -> 1024 (the projection's CPU cap)
    assert engine.default_block(res3, 1000, "jvp", "float32", "cpu", sampler="projection") == 1024
    assert (
        engine.default_block(
            branches.Shape("res3", 512), 1000, "jvp", "float32", "cpu", sampler="projection"
        )
        == 64
    )
    # explicit: 2^20 / (2 x 40^2) = 328 -> 256 (the CPU cap)
    assert engine.default_block(res3, 1000, "jvp", "float32", "cpu") == 256
    with pytest.raises(ValueError, match="unknown sampler"):
        engine.default_block(res3, 1000, "jvp", "float32", "cpu", sampler="exact")


def test_a_registered_sampler_is_all_the_engine_needs(monkeypatch):
    """A new sampler is one class plus its registry entry: the engine (compile, block rule,
    run) finds it by name. Here a copy of explicit under another name gives explicit's bits."""

    class Copy(Explicit):
        name = "copy"

    monkeypatch.setitem(samplers.SAMPLERS, "copy", Copy())
    kernel = make_kernel(width=4, depth=3, gradients="both", block=2)
    copy = dataclasses.replace(kernel, sampler="copy")
    assert engine.default_block(kernel.shape, 3, "both", "float32", sampler="copy") == (
        engine.default_block(kernel.shape, 3, "both", "float32")
    )
    reference = engine.run(kernel, [0.5, 1.0], samples=2, seed=0, progress=False)
    copied = engine.run(copy, [0.5, 1.0], samples=2, seed=0, progress=False)
    for name in kernel.outputs:
        assert np.array_equal(reference[name], copied[name]), name
