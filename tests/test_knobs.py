"""lab.knobs: a knob's validation, parsing and words, as every front end derives them."""
import dataclasses

import pytest

from lab.errors import FieldError
from lab.knobs import Knob, collect, knob


@dataclasses.dataclass(frozen=True)
class Trial:
    colour: str = knob(kind=str, choices=lambda: ("red", "blue"), label="colour", help="a colour")
    count: int = knob(3, kind=int, low=1, high=9, label="count (things)", help="how many")
    share: float = knob(0.0, kind=float, low=0.0, high=1.0, high_open=True, label="share", help="a fraction",
                        late=True)
    on: bool = knob(False, kind=bool, label="on", help="a switch", flag="--switch")


KNOBS = collect(Trial)


def test_collect_reads_each_declaration_in_field_order():
    assert list(KNOBS) == ["colour", "count", "share", "on"]
    assert KNOBS["colour"].required and not KNOBS["count"].required and KNOBS["count"].default == 3
    assert KNOBS["on"].cli_flag == "--switch" and KNOBS["count"].cli_flag == "--count" and KNOBS["share"].late


@pytest.mark.parametrize("name, value, allowed", [
    ("colour", "green", "one of red, blue"), ("colour", 3, "one of red, blue"),
    ("count", 0, "a whole number from 1 to 9"), ("count", 2.5, "a whole number from 1 to 9"),
    ("count", True, "a whole number from 1 to 9"), ("share", 1.0, "a number from 0 up to (not including) 1"),
    ("share", float("nan"), "a number from 0 up to (not including) 1"), ("on", "yes", "true or false"),
])
def test_check_refuses_with_the_field_the_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(FieldError) as info:
        KNOBS[name].check(value)
    assert (info.value.field, info.value.allowed) == (name, allowed)
    assert info.value.value is value or info.value.value != info.value.value  # nan is not nan


def test_check_normalises_a_whole_number_for_a_float_knob():
    assert KNOBS["share"].check(0) == 0.0 and isinstance(KNOBS["share"].check(0), float)


def test_parse_reads_cli_text_per_kind():
    assert KNOBS["on"].parse_list("on,off,true,0") == [True, False, True, False]
    assert KNOBS["count"].parse_list("1, 2") == [1, 2] and KNOBS["share"].parse("0.5") == 0.5
    with pytest.raises(FieldError, match=r"^on='maybe' is not allowed: on or off \(true or false\)$"):
        KNOBS["on"].parse("maybe")
    with pytest.raises(FieldError, match="a comma list without empty items"):
        KNOBS["count"].parse_list("")


def test_a_knob_is_a_plain_dataclass_field():
    assert isinstance(KNOBS["count"], Knob)
    assert Trial(colour="red") == Trial(colour="red", count=3, share=0.0, on=False)
