"""The shared value parsers (cvbench/config/values.py) on their own."""

from __future__ import annotations

import pytest

from cvbench.config.values import parse_names


class _Unknown(ValueError):
    pass


def test_names_in_the_order_given_each_once():
    assert parse_names(" b, a ,b,,a ", ("a", "b", "c"), "thing") == ["b", "a"]


def test_all_is_every_name_in_its_own_order():
    assert parse_names("c,all", ("a", "b", "c"), "thing") == ["a", "b", "c"]


def test_names_are_not_checked_here():
    assert parse_names("x.toml", ("a",), "workload") == ["x.toml"]


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_an_empty_list_is_the_callers_error(text):
    with pytest.raises(_Unknown, match="^no thing given$"):
        parse_names(text, ("a",), "thing", _Unknown)
