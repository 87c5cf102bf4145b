"""The graphnas search space: choices, codecs, neighbours, validation."""

from __future__ import annotations

import json
import random

import pytest
from plexus.nas.spaces import get_space
from plexus.nas.spaces.graphnas import Architecture, GraphNASSpace, LayerArch
from plexus.platform.errors import ConfigError

LISTED = {
    "attention": ["const", "gcn", "gat", "sym-gat", "cos", "linear", "generalized-linear"],
    "aggregator": ["sum", "mean", "max", "mlp"],
    "activation": ["sigmoid", "tanh", "relu", "linear", "softplus", "leaky_relu", "relu6", "elu"],
    "heads": [1, 2, 4, 6, 8, 16],
    "hidden": [4, 8, 16, 32, 64, 128, 256],
}


def test_space_enumerates_every_listed_choice_per_layer() -> None:
    space = get_space("graphnas", "cora")
    assert space.num_layers == 2
    for cls, values in LISTED.items():
        assert list(space.choices(cls)) == values
    assert set(space.classes) == {*LISTED, "combine", "skip"}
    # every class is a decision of every layer, except the output layer's width/combination
    per_layer = {layer: {d.action for d in space.decisions if d.layer == layer} for layer in range(2)}
    assert per_layer[0] == set(space.classes)
    assert per_layer[1] == set(space.classes) - {"hidden", "combine"}
    assert space.size() == (7 * 4 * 8 * 6 * 2) ** 2 * 7 * 2
    # a random walk over the space reaches every listed value
    rng = random.Random(0)
    seen: dict[str, set] = {c: set() for c in LISTED}
    for _ in range(400):
        arch = space.sample(rng)
        for layer in arch.layers:
            for c in LISTED:
                if getattr(layer, c) is not None:
                    seen[c].add(getattr(layer, c))
    assert {c: sorted(map(str, v)) for c, v in seen.items()} == {c: sorted(map(str, v)) for c, v in LISTED.items()}


def test_depth_is_fixed_per_dataset() -> None:
    assert get_space("graphnas", "ppi").num_layers == 3
    assert get_space("graphnas", "cora").num_layers == 2


@pytest.mark.parametrize("seed", range(5))
def test_decode_encode_round_trip(seed: int) -> None:
    space = GraphNASSpace(3)
    rng = random.Random(seed)
    tokens = [rng.randrange(len(d.choices)) for d in space.decisions]
    arch = space.decode(tokens)
    assert space.encode(arch) == tokens
    assert space.decode(space.encode(arch)) == arch
    again = Architecture.from_json(arch.to_json())
    assert again == arch and space.from_json(space.to_json(arch)) == arch
    assert json.loads(arch.to_json())["layers"][-1]["hidden"] is None


def test_neighbours_differ_in_exactly_one_decision() -> None:
    space = GraphNASSpace(2)
    arch = space.default()
    base = space.encode(arch)
    neigh = list(space.neighbours(arch))
    assert len(neigh) == sum(len(d.choices) - 1 for d in space.decisions)
    for n in neigh:
        assert sum(a != b for a, b in zip(space.encode(n), base)) == 1
    only_att = list(space.neighbours(arch, "attention"))
    assert len(only_att) == 2 * 6 and all(space.changed_classes(arch, n) == {"attention"} for n in only_att)


def test_choices_restrict_the_space_and_bad_values_are_rejected() -> None:
    small = GraphNASSpace(2, choices={"hidden": [4, 8], "heads": [1]})
    assert small.choices("hidden") == (4, 8) and small.choices("heads") == (1,)
    with pytest.raises(ConfigError, match="hidden"):
        GraphNASSpace(2, choices={"hidden": [5]})
    with pytest.raises(ConfigError, match="outside"):
        small.encode(GraphNASSpace(2).default())  # default has 8 heads


@pytest.mark.parametrize("text,needle", [
    ("not json", "JSON"),
    ('{"layers": []}', "non-empty"),
    ('{"layers": [{"attention": "gat", "heads": 1, "hidden": null, "combine": null, "oops": 1}]}', "oops"),
    ('{"layers": [{"attention": "magic", "hidden": null, "combine": null}]}', "attention='magic'"),
    ('{"layers": [{"hidden": 8}]}', "output layer"),
])
def test_invalid_architectures_raise_config_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        Architecture.from_json(text)


def test_layer_defaults_decode_unsearched_classes() -> None:
    space = GraphNASSpace(2, classes=["attention"])
    assert space.classes == ["attention"] and len(space.decisions) == 2
    arch = space.decode([2, 0])
    assert arch.layers[0] == LayerArch(attention="gat")
    assert arch.layers[1].attention == "const" and arch.layers[1].hidden is None
