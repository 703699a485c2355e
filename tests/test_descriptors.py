"""The behavioural grid (evolver/descriptors.py) on synthetic features: levels, the
highest-rule-wins semantics, descriptions, neighbours, configuration from dicts/JSON."""

from __future__ import annotations

import json

import pytest

from evolver.descriptors import (
    DEFAULT_CONFIG,
    DEFAULT_GRID,
    OCCUPANCY_AXIS,
    Axis,
    DescriptorGrid,
    RuleError,
    cell_of,
    compile_rule,
    describe_cell,
    grid_dims,
    load_grid,
    neighbours,
)


def test_default_grid_shape_and_names():
    assert grid_dims() == [4, 4, 4]
    assert [a.name for a in DEFAULT_GRID.axes] == ["memory", "compute", "parallelism"]
    assert DEFAULT_GRID.cell_count() == 64
    assert describe_cell([0, 0, 0]) == ("memory: plain global, compute: scalar, "
                                        "parallelism: independent threads")
    assert describe_cell([3, 3, 3]) == ("memory: async copy / tensor memory, compute: tensor cores, "
                                        "parallelism: hierarchical")
    with pytest.raises(ValueError):
        describe_cell([4, 0, 0])
    with pytest.raises(ValueError):
        describe_cell([0, 0])


def test_empty_features_are_the_origin():
    assert cell_of({}, "cuda") == [0, 0, 0]
    assert cell_of({}, "sycl") == [0, 0, 0]
    assert cell_of({"ld_global": 5, "st_global": 1, "fma": 1}, "cuda") == [0, 0, 0]


@pytest.mark.parametrize("feats, expected", [
    ({"ld_global_v4": 2}, 1),
    ({"st_global_vec": 1}, 1),
    ({"ld_global": 1, "ld_global_nc": 1}, 1),  # all loads through the read-only path
    ({"ld_global": 4, "ld_global_nc": 1}, 0),  # a few of many: not the kernel's strategy
    ({"ld_shared": 3, "st_shared": 1}, 2),
    ({"ld_global_v4": 2, "ld_shared": 3}, 2),  # the highest level that holds
    ({"cp_async": 1, "ld_shared": 8}, 3),
    ({"cp_async_bulk": 1}, 3),
    ({"ldmatrix": 4}, 3),
])
def test_cuda_memory_levels(feats, expected):
    assert cell_of(feats, "cuda")[0] == expected


@pytest.mark.parametrize("feats, expected", [
    ({"unroll": 4, "loops": 2}, 0),  # NVVM's own runtime unrolling of a plain loop
    ({"unroll": 16, "accumulators": 1}, 1),
    ({"straight_stores": 8}, 1),
    ({"unroll": 32, "accumulators": 16}, 2),
    ({"mma": 1}, 3),
    ({"wgmma": 4, "accumulators": 16}, 3),
])
def test_cuda_compute_levels(feats, expected):
    assert cell_of(feats, "cuda")[1] == expected


@pytest.mark.parametrize("feats, expected", [
    ({}, 0),
    ({"bar_sync": 2}, 1),
    ({"atom_global": 1}, 1),
    ({"atom_shared": 1}, 1),
    ({"shfl": 5}, 2),
    ({"vote": 1, "bar_sync": 1}, 3),
    ({"redux": 1, "atom_generic": 1}, 3),
    ({"bar_sync": 1, "atom_global": 1}, 3),  # block then grid
    ({"warp_sync": 1}, 2),
])
def test_cuda_parallelism_levels(feats, expected):
    assert cell_of(feats, "cuda")[2] == expected


def test_sycl_rules():
    assert cell_of({"vec_types": 2}, "sycl") == [1, 0, 0]
    assert cell_of({"local_mem": 1, "group_barrier": 2, "pragma_unroll": 1}, "sycl") == [2, 1, 1]
    assert cell_of({"private_arrays": 2, "loop_fma_max": 1}, "sycl") == [0, 2, 0]
    assert cell_of({"joint_matrix": 1}, "sycl") == [0, 3, 0]
    assert cell_of({"sub_group_ops": 1}, "sycl") == [0, 0, 2]
    assert cell_of({"sub_group_collectives": 1, "group_barrier": 1}, "sycl") == [0, 0, 3]
    assert cell_of({"async_copy": 1}, "sycl") == [3, 0, 0]
    # CUDA feature names mean nothing to the SYCL rules, and the other way round
    assert cell_of({"ld_shared": 4, "bar_sync": 1}, "sycl") == [0, 0, 0]
    assert cell_of({"local_mem": 4}, "cuda") == [0, 0, 0]
    assert cell_of({"ld_shared": 4}, "opencl") == [0, 0, 0]  # no rules for it: the origin


def test_explain_names_the_rule():
    ex = DEFAULT_GRID.explain({"ld_shared": 1, "bar_sync": 1}, "cuda")
    assert ex[0] == {"axis": "memory", "level": 2, "name": "shared-memory tiling",
                     "rule": "ld_shared + st_shared > 0"}
    assert ex[1]["level"] == 0 and ex[1]["rule"] is None


def test_neighbours():
    assert neighbours([0, 0, 0]) == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert neighbours([3, 3, 3]) == [[2, 3, 3], [3, 2, 3], [3, 3, 2]]
    n = neighbours([1, 2, 3])
    assert n == [[0, 2, 3], [2, 2, 3], [1, 1, 3], [1, 3, 3], [1, 2, 2]]
    assert all(sum(abs(a - b) for a, b in zip(c, [1, 2, 3])) == 1 for c in n)
    with pytest.raises(ValueError):
        neighbours([0, 9, 0])


def test_flatten_round_trip_and_cells():
    cells = list(DEFAULT_GRID.cells())
    assert len(cells) == 64 and cells[0] == [0, 0, 0] and cells[-1] == [3, 3, 3]
    assert [DEFAULT_GRID.flatten(c) for c in cells] == list(range(64))
    assert all(DEFAULT_GRID.unflatten(DEFAULT_GRID.flatten(c)) == c for c in cells)


def test_configuration_round_trips_through_json():
    text = json.dumps(DEFAULT_GRID.to_dict())
    grid = load_grid(text)
    assert grid.grid_dims() == [4, 4, 4]
    feats = {"ld_shared": 2, "unroll": 16, "shfl": 3, "bar_sync": 1}
    assert grid.cell_of(feats, "cuda") == DEFAULT_GRID.cell_of(feats, "cuda") == [2, 1, 3]
    assert load_grid(None) is DEFAULT_GRID
    assert load_grid(DEFAULT_CONFIG).to_dict() == DEFAULT_GRID.to_dict()


def test_load_grid_from_a_file(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"axes": [
        {"name": "barriers", "levels": ["none", "some", "many"],
         "rules": {"*": ["bar_sync + group_barrier > 0", "bar_sync + group_barrier >= 4"]}},
    ]}))
    grid = load_grid(str(path))
    assert grid.grid_dims() == [3]
    assert grid.cell_of({"bar_sync": 2}, "cuda") == [1]
    assert grid.cell_of({"group_barrier": 5}, "sycl") == [2]
    assert grid.describe_cell([2]) == "barriers: many"
    assert grid.neighbours([2]) == [[1]]


def test_occupancy_axis_is_optional():
    grid = DEFAULT_GRID.with_axis(OCCUPANCY_AXIS)
    assert grid.grid_dims() == [4, 4, 4, 4]
    assert grid.cell_of({"occupancy": 0.8}, "cuda")[3] == 3
    assert grid.cell_of({"occupancy": 0.3}, "sycl")[3] == 1
    assert grid.cell_of({}, "cuda")[3] == 0  # unknown occupancy
    assert grid.describe_cell([0, 0, 0, 2]).endswith("occupancy: 50-75%")
    assert DEFAULT_GRID.grid_dims() == [4, 4, 4]  # the default is not changed


def test_custom_derived_values():
    grid = DescriptorGrid(
        [Axis("sync", ["none", "sync"], {"cuda": ["syncs > 0"]})],
        derived={"cuda": {"syncs": "bar_sync + warp_sync"}},
    )
    assert grid.cell_of({"warp_sync": 1}, "cuda") == [1]
    assert grid.cell_of({}, "cuda") == [0]


def test_rules_are_a_safe_whitelist():
    assert compile_rule("a + 2 * b >= 5 and not c")({"a": 1, "b": 2}) == 1.0
    assert compile_rule("max(a, b) / 0 == 0")({"a": 1}) == 1.0  # division by zero is 0
    assert compile_rule("1 < x <= 3")({"x": 3}) == 1.0
    assert compile_rule("abs(-x) > min(x, 1)")({"x": 2}) == 1.0
    for bad in ("__import__('os')", "a.b", "x[0]", "lambda: 1", "'s' > 1", "a if b else c", "a +"):
        with pytest.raises(RuleError):
            compile_rule(bad)


def test_bad_configurations_are_refused():
    with pytest.raises(RuleError):
        Axis("m", ["a", "b", "c"], {"cuda": ["x > 0"]})  # one rule for three levels
    with pytest.raises(RuleError):
        Axis("m", ["only"], {})
    with pytest.raises(RuleError):
        DescriptorGrid([Axis("m", ["a", "b"]), Axis("m", ["a", "b"])])
    with pytest.raises(RuleError):
        DescriptorGrid.from_dict({"axes": [{"levels": ["a", "b"]}]})
    with pytest.raises(RuleError):
        load_grid('{"axes": [{"name": "m", "levels": ["a", "b"], "rules": {"cuda": ["import os"]}}]}')
    # None means "never" for a level
    grid = DescriptorGrid([Axis("m", ["a", "b", "c"], {"*": [None, "x > 0"]})])
    assert grid.cell_of({"x": 1}, "cuda") == [2]
