"""The guard against a slow suite: the share of tests marked ``slow``
(pytest.ini) in the whole collected suite stays within a budget.

``make test`` also prints the 15 slowest tests (``--durations=15``); a new
slow test is either made fast (in-process tool calls through
tests/cli_runner.py, module-scoped fixtures that share one tiny run) or
marked ``slow``, which this budget bounds.
"""
import pytest

# the share when the budget was set: 53 of 889 collected tests (6%)
SLOW_SHARE_BUDGET = 0.08
# fewer tests than this: a selection (-k, one folder), not the whole suite
WHOLE_SUITE = 800


def slow_share(collected):
    """``(slow, total)`` counts of ``(node id, is slow)`` pairs."""
    return sum(1 for _, slow in collected if slow), len(collected)


def test_slow_share_is_counted_per_collected_test():
    collected = [('a.py::t1', True), ('a.py::t2', False),
                 ('b.py::t[0]', True), ('b.py::t[1]', False)]
    assert slow_share(collected) == (2, 4)


def test_slow_share_within_budget(request):
    collected = [(item.nodeid, item.get_closest_marker('slow') is not None)
                 for item in request.session.items]
    if len(collected) < WHOLE_SUITE:
        pytest.skip(f'{len(collected)} tests collected: the budget is '
                    'checked on the whole suite (make test)')
    slow, total = slow_share(collected)
    assert slow / total <= SLOW_SHARE_BUDGET, (
        f'{slow} of {total} tests ({slow / total:.0%}) are marked slow, '
        f'past the budget of {SLOW_SHARE_BUDGET:.0%}: make some fast '
        '(in-process tool calls, shared fixtures) before marking more')
