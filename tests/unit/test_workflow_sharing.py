"""Edits return new graphs that share the nodes they did not change, and never change the graph they came from.

A Workflow is immutable, so an edit copies only the path to the change (a thousand jobs with their own seeds used
to deep-copy the whole graph a thousand times). These tests hold the immutability that makes the sharing safe.
"""

from __future__ import annotations

import json
import random

from tui.core.workflow import seed_workflow


def test_with_input_changes_one_input_and_leaves_the_original_alone() -> None:
    workflow = seed_workflow()
    before = json.dumps(workflow.nodes)
    edited = workflow.set_value("3.steps", "30")
    assert json.dumps(workflow.nodes) == before
    assert edited.nodes["3"]["inputs"]["steps"] == 30 and workflow.nodes["3"]["inputs"]["steps"] == 20
    assert {**edited.nodes["3"]["inputs"], "steps": 20} == workflow.nodes["3"]["inputs"]
    assert {key: node for key, node in edited.nodes.items() if key != "3"} == {
        key: node for key, node in workflow.nodes.items() if key != "3"
    }
    assert list(edited.nodes) == list(workflow.nodes)  # same node order, so the same JSON layout
    assert list(edited.nodes["3"]["inputs"]) == list(workflow.nodes["3"]["inputs"])
    assert edited.nodes["4"] is workflow.nodes["4"]  # untouched nodes are shared, not copied


def test_chained_edits_each_keep_their_own_values() -> None:
    workflow = seed_workflow()
    first = workflow.set_value("3.steps", "5")
    second = first.set_value("3.cfg", "2.5")
    third = first.set_value("3.steps", "6")
    assert (workflow.nodes["3"]["inputs"]["steps"], first.nodes["3"]["inputs"]["steps"]) == (20, 5)
    assert (second.nodes["3"]["inputs"]["steps"], second.nodes["3"]["inputs"]["cfg"]) == (5, 2.5)
    assert first.nodes["3"]["inputs"]["cfg"] == workflow.nodes["3"]["inputs"]["cfg"]
    assert third.nodes["3"]["inputs"]["steps"] == 6 and first.nodes["3"]["inputs"]["steps"] == 5


def test_randomized_seeds_leave_the_original_and_every_other_input_alone() -> None:
    workflow = seed_workflow()
    before = json.dumps(workflow.nodes)
    rng = random.Random(7)
    graphs = [workflow.randomize_seeds(rng) for _ in range(3)]
    assert json.dumps(workflow.nodes) == before
    seeds = [graph.nodes["3"]["inputs"]["seed"] for graph in graphs]
    assert len(set(seeds)) == 3
    for graph in graphs:
        original_inputs = workflow.nodes["3"]["inputs"]
        assert {**graph.nodes["3"]["inputs"], "seed": original_inputs["seed"]} == original_inputs
        assert {key: node for key, node in graph.nodes.items() if key != "3"} == {
            key: node for key, node in workflow.nodes.items() if key != "3"
        }
    # Editing a derived graph never reaches its siblings.
    assert graphs[0].set_value("3.seed", "1").nodes["3"]["inputs"]["seed"] == 1
    assert [graph.nodes["3"]["inputs"]["seed"] for graph in graphs] == seeds


def test_to_dict_is_still_a_private_deep_copy() -> None:
    workflow = seed_workflow().set_value("3.steps", "9")
    copy = workflow.to_dict()
    copy["3"]["inputs"]["steps"] = 1
    copy["4"]["inputs"]["ckpt_name"] = "other"
    assert workflow.nodes["3"]["inputs"]["steps"] == 9
    assert workflow.nodes["4"]["inputs"]["ckpt_name"] != "other"
