"""Assertions several test files share."""
import pytest


def one_line_error(fn, *match):
    """`fn()` raises a one-line `ValueError` containing every string of `match`; returns the message."""
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for part in match:
        assert part in message
    return message
