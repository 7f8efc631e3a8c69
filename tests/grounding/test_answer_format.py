import pytest

from reid.grounding.answer_format import format_boxes, parse_answer


def test_single_box():
    r = parse_answer("[[100,020,880,300]]")
    assert r.status == "ok"
    assert r.boxes == [(0.1, 0.02, 0.88, 0.3)]
    assert r.raw == "[[100,020,880,300]]"


def test_several_boxes_in_one_bracket_and_several_groups():
    r = parse_answer("the legs[[100,020,880,300;120,310,870,640]] and [[000,650,999,999]]")
    assert r.status == "ok"
    assert r.boxes == [(0.1, 0.02, 0.88, 0.3), (0.12, 0.31, 0.87, 0.64), (0.0, 0.65, 0.999, 0.999)]
    assert r.message == ""


@pytest.mark.parametrize("raw", ["", "I cannot see any person.", "[100,200,300,400]"])
def test_no_box(raw):
    r = parse_answer(raw)
    assert (r.status, r.boxes, r.raw) == ("no_box", [], raw)


@pytest.mark.parametrize("raw", ["[[12,ab,]]", "[[]]", "[[100,200,300]]", "[[100,200,100,400]]"])
def test_garbage_is_parse_error(raw):
    r = parse_answer(raw)
    assert r.status == "parse_error"
    assert r.boxes == []
    assert r.raw == raw and r.message


def test_a_trailing_separator_is_not_an_error():
    r = parse_answer("[[100,200,300,400;]]")
    assert (r.status, r.boxes, r.message) == ("ok", [(0.1, 0.2, 0.3, 0.4)], "")


@pytest.mark.parametrize("raw", ["[[100,200,300,400]", "the head [[100,200,3"])
def test_an_answer_cut_off_inside_its_box_is_a_parse_error_naming_max_new_tokens(raw):
    r = parse_answer(raw)
    assert (r.status, r.boxes, r.raw) == ("parse_error", [], raw)
    assert "grounding.cogvlm.max_new_tokens" in r.message


def test_a_cut_off_group_after_a_whole_one_keeps_the_whole_box_and_says_so():
    r = parse_answer("[[100,200,300,400]] and [[500,6")
    assert r.status == "ok" and r.boxes == [(0.1, 0.2, 0.3, 0.4)] and "never closed" in r.message


def test_garbage_piece_skipped_valid_piece_kept():
    r = parse_answer("[[xx;100,100,200,300]]")
    assert r.status == "ok"
    assert r.boxes == [(0.1, 0.1, 0.2, 0.3)]
    assert "not 4 integers" in r.message


def test_out_of_range_clipped_and_swapped_corners_sorted():
    r = parse_answer("[[100,200,1500,900]]")
    assert r.status == "ok" and r.boxes == [(0.1, 0.2, 1.0, 0.9)]
    assert "clipped" in r.message
    assert parse_answer("[[880,300,100,020]]").boxes == [(0.1, 0.02, 0.88, 0.3)]


def test_format_round_trip():
    boxes = [(0.1, 0.02, 0.88, 0.3), (0.12, 0.31, 0.87, 0.64)]
    text = format_boxes(boxes)
    assert text == "[[100,020,880,300;120,310,870,640]]"
    assert parse_answer(text).boxes == boxes
