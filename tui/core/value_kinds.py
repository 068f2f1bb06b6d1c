"""How a message names the type of a value read from a TOML or JSON file ("expected an integer, got a string").

One place for the words, so the config checker (TOML) and the workflow checker (JSON) speak alike. No Textual here.
"""

from __future__ import annotations

from typing import Literal


def kind_of(value: object, syntax: Literal["json", "toml"] = "json") -> str:
    """`a boolean`, `a string`, `a number`, ... in the terms of the file's syntax: TOML tells integers from other
    numbers and calls lists arrays and objects tables; JSON has one number type, lists, objects and null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int) and syntax == "toml":
        return "an integer"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array" if syntax == "toml" else "a list"
    if isinstance(value, dict):
        return "a table" if syntax == "toml" else "an object"
    return type(value).__name__


def python_type_name(value: object) -> str:
    """``bool``, ``int``, ``float`` or ``str`` for a scalar (what a new value typed for it is converted to); a
    JSON kind (`a list`, ...) for anything else."""
    for scalar in (bool, int, float, str):  # bool first: it is an int too
        if isinstance(value, scalar):
            return scalar.__name__
    return kind_of(value)
