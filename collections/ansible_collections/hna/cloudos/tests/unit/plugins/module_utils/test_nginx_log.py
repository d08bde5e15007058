# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the access-log summaries and the A/B verdict (pure logic), and of the log reading of nginx_log_info with a
fake engine."""

from __future__ import annotations

import contextlib
import json
import math
import random
import time

import pytest

from docker.errors import NotFound

from ansible_collections.hna.cloudos.plugins.module_utils import _nginx_log as nl
from ansible_collections.hna.cloudos.plugins.module_utils import _nginx_log_task as task


def line(**fields):
    """One access-log line as the lb role's log_format writes it."""
    record = {'time': '2026-12-02T11:00:00+00:00', 'lb': 'bj2-lb', 'app': 'fleet', 'variant': 'a', 'version': '3',
              'request_id': 'r', 'remote_addr': '10.0.0.1', 'method': 'GET', 'uri': '/version', 'status': 200,
              'bytes': 12, 'request_time': 0.003, 'upstream_addr': '10.1.0.2:18001', 'upstream_status': '200',
              'upstream_connect_time': '0.000', 'upstream_response_time': '0.003'}
    record.update(fields)
    return json.dumps(record)


def records(count, variant='a', errors=0, latency=0.003, **fields):
    """``count`` parsed records of ``variant``, the first ``errors`` of them answered 502."""
    result = []
    for index in range(count):
        latency_value = latency(index) if callable(latency) else latency
        result.append(nl.parse_line(line(variant=variant, status=502 if index < errors else 200, request_time=latency_value, **fields)))
    return result


def exact_percentile(values, p):
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def bucket_of(value):
    """The (lower, upper) bounds of the bucket that holds ``value``."""
    for index, bound in enumerate(nl.BUCKET_BOUNDS):
        if value <= bound:
            return (nl.BUCKET_BOUNDS[index - 1] if index else 0.0), bound
    return nl.BUCKET_BOUNDS[-1], math.inf


# -- parse_line and filters ---------------------------------------------------------------------------------------

def test_parse_line_reads_the_lb_log_format_and_normalises_numbers():
    record = nl.parse_line(line(status='503', request_time='0.250', bytes='-', upstream_response_time='0.100, 0.150'))
    assert record['status'] == 503
    assert record['request_time'] == 0.25
    assert record['bytes'] is None
    assert record['upstream_response_time'] == '0.100, 0.150'
    assert record['variant'] == 'a' and record['lb'] == 'bj2-lb'


def test_parse_line_takes_bytes_and_surrounding_whitespace():
    assert nl.parse_line(('  %s\r\n' % line(variant='b')).encode('utf-8'))['variant'] == 'b'


@pytest.mark.parametrize('text', [
    '', 'nginx: [warn] the "user" directive makes sense only if the master process runs with super-user privileges',
    '/docker-entrypoint.sh: Configuration complete; ready for start up', '[1, 2]', '"text"', '42', '{"unterminated": ',
    '{' * 5000 + '}' * 5000, b'\xff\xfe{', None,
])
def test_parse_line_returns_none_for_anything_but_a_json_object(text):
    assert nl.parse_line(text) is None


def test_parse_line_gives_a_missing_or_bad_status_as_0_and_a_bad_latency_as_none():
    record = nl.parse_line('{"app": "fleet", "request_time": "-"}')
    assert record['status'] == 0 and record['request_time'] is None
    assert nl.parse_line('{"status": "-", "request_time": -1}')['status'] == 0
    assert nl.parse_line('{"status": 200.5, "request_time": "NaN"}')['request_time'] is None
    assert nl.parse_line('{"status": true}')['status'] == 0


def test_skip_reason():
    record = nl.parse_line(line(version=3))
    assert nl.skip_reason(None) == 'not_json'
    assert nl.skip_reason(record) is None
    assert nl.skip_reason(record, app='fleet') is None
    assert nl.skip_reason(record, app='other') == 'other_app'
    assert nl.skip_reason(record, match={'version': '3', 'method': ['GET', 'HEAD']}) is None
    assert nl.skip_reason(record, match={'version': 3}) is None
    assert nl.skip_reason(record, match={'method': ['POST', 'PUT']}) == 'no_match'
    assert nl.skip_reason(record, match={'missing': ''}) is None
    assert nl.skip_reason(record, app='fleet', match={'uri': '/health'}) == 'no_match'


# -- histogram ----------------------------------------------------------------------------------------------------

def test_bucket_bounds_are_log_spaced_from_1_ms_to_60_s():
    bounds = nl.BUCKET_BOUNDS
    assert bounds[0] == 0.001 and bounds[-1] == 60.0
    assert list(bounds) == sorted(bounds)
    assert all(1.5 <= bounds[i + 1] / bounds[i] <= 2.0 for i in range(len(bounds) - 1))
    decades = sum(1 for bound in bounds if 0.01 <= bound < 0.1)
    assert decades == 4


def test_upper_bounds_are_inclusive_and_long_latencies_go_to_inf():
    histogram = nl.Histogram()
    for value in (0.0, 0.001, 0.0010001, 60.0, 61.0, 3600.0):
        histogram.add(value)
    data = histogram.to_dict()
    assert data['buckets'] == [[0.001, 2], [0.0018, 1], [60.0, 1], ['+Inf', 2]]
    assert data['count'] == 6 and data['max'] == 3600.0
    assert data['p99'] <= 3600.0


@pytest.mark.parametrize('seed', [1, 2, 3])
@pytest.mark.parametrize('p', [1, 10, 50, 90, 95, 99, 99.9])
def test_percentiles_are_in_the_bucket_of_the_exact_value(seed, p):
    rng = random.Random(seed)
    # Latencies of a web service: mostly a few milliseconds, a tail up to seconds, some zeros (cache hits).
    values = [round(math.exp(rng.gauss(math.log(0.008), 1.2)), 3) for dummy in range(2000)] + [0.0] * 30 + [75.0]
    histogram = nl.Histogram()
    for value in values:
        histogram.add(value)
    exact = exact_percentile(values, p)
    lower, upper = bucket_of(exact)
    estimate = histogram.percentile(p)
    assert lower <= estimate <= min(upper, max(values)), (p, exact, estimate)
    assert nl.percentile(histogram.to_dict(), p) == pytest.approx(estimate, abs=1e-6)
    assert nl.percentile(histogram, p) == pytest.approx(estimate, abs=1e-6)


def test_percentile_of_known_data_interpolates_within_the_bucket():
    # 100 latencies: 50 of 2 ms (bucket 1.8-3.2 ms), 50 of 20 ms (bucket 18-32 ms).
    histogram = nl.Histogram()
    for value in [0.002] * 50 + [0.02] * 50:
        histogram.add(value)
    # Rank 25 of the 50 in (0.0018, 0.0032]: half way.
    assert histogram.percentile(25) == pytest.approx(0.0018 + (0.0032 - 0.0018) * 0.5)
    assert histogram.percentile(50) == pytest.approx(0.0032)
    # The last bucket ends at the maximum, 20 ms: rank 95 is 45 of its 50.
    assert histogram.percentile(95) == pytest.approx(0.018 + (0.02 - 0.018) * 0.9)
    assert histogram.percentile(100) == pytest.approx(0.02)
    assert histogram.mean() == pytest.approx(0.011)


def test_mean_sum_max_and_an_empty_histogram():
    empty = nl.Histogram().to_dict()
    assert empty == {'buckets': [], 'count': 0, 'sum': 0.0, 'max': None, 'p50': None, 'p95': None, 'p99': None, 'mean': None}
    assert nl.percentile(empty, 95) is None


@pytest.mark.parametrize('p', [0, 0.5, 100, 150, -1, 'x', None, True])
def test_percentile_out_of_range_is_refused(p):
    with pytest.raises(nl.LogError, match='between 1 and 99.9'):
        nl.percentile(nl.Histogram(), p)


@pytest.mark.parametrize('latency, message', [
    ({'buckets': [[0.002, 1]], 'count': 1, 'sum': 0.002, 'max': 0.002}, 'bucket bound 0.002 is not one of the fixed bounds'),
    ({'buckets': [[0.001, -1]], 'count': -1, 'sum': 0, 'max': 0}, 'has the count -1'),
    ({'buckets': [[0.001, 2]], 'count': 3, 'sum': 0, 'max': 0.001}, 'count is 3 but its buckets hold 2'),
    ({'buckets': [[0.001]], 'count': 1}, 'not a [bound, count] pair'),
    ({'buckets': [[0.001, 1]], 'count': 1, 'sum': 0.001, 'max': None}, 'max is null'),
    ({'buckets': 'x'}, 'not a list'),
    ('x', 'not the latency dictionary'),
])
def test_a_latency_that_is_not_a_summary_is_refused(latency, message):
    with pytest.raises(nl.LogError) as error:
        nl.Histogram.from_dict(latency)
    assert message in str(error.value)


def test_the_inf_bucket_is_read_back_in_several_spellings():
    for bound in ('+Inf', 'inf', float('inf')):
        assert nl.Histogram.from_dict({'buckets': [[bound, 1]], 'count': 1, 'sum': 70, 'max': 70}).counts[-1] == 1


# -- summarise ----------------------------------------------------------------------------------------------------

def test_summarise_counts_requests_errors_statuses_by_variant():
    data = records(10, 'a') + records(20, 'b', errors=3, latency=0.02)
    data += [nl.parse_line(line(variant='b', status=499)), nl.parse_line(line(variant='b', status='-')), None]
    groups = nl.summarise(data)
    assert [group['key'] for group in groups] == [{'variant': 'a'}, {'variant': 'b'}]
    a, b = groups
    assert (a['requests'], a['errors'], a['error_rate'], a['statuses']) == (10, 0, 0.0, {'200': 10})
    # 499 (the client went away) is no error with error_status 500; a missing status is.
    assert (b['requests'], b['errors'], b['error_rate']) == (22, 4, 18.18)
    assert b['statuses'] == {'0': 1, '200': 17, '499': 1, '502': 3}
    assert list(b['statuses']) == ['0', '200', '499', '502']
    assert a['latency']['count'] == 10 and a['latency']['max'] == 0.003
    assert a['latency']['sum'] == pytest.approx(0.03)
    assert a['latency']['mean'] == pytest.approx(0.003)
    assert b['latency']['buckets'] == [[0.0032, 2], [0.032, 20]]


def test_summarise_error_status_400_counts_client_errors():
    data = [nl.parse_line(line(status=status)) for status in (200, 404, 429, 500)]
    assert nl.summarise(data, error_status=400)[0]['errors'] == 3
    assert nl.summarise(data)[0]['errors'] == 1


def test_summarise_groups_by_several_fields_as_text_sorted():
    data = [nl.parse_line(line(lb=lb, variant=variant, version=version))
            for lb, variant, version in [('hz-lb', 'b', 4), ('bj2-lb', 'b', '4'), ('bj2-lb', 'a', 3.0), ('hz-lb', 'a', '3')]]
    data.append(nl.parse_line('{"app": "fleet", "status": 200}'))
    groups = nl.summarise(data, group_by=['lb', 'version'])
    assert [group['key'] for group in groups] == [
        {'lb': '', 'version': ''}, {'lb': 'bj2-lb', 'version': '3'}, {'lb': 'bj2-lb', 'version': '4'},
        {'lb': 'hz-lb', 'version': '3'}, {'lb': 'hz-lb', 'version': '4'}]
    assert [group['requests'] for group in groups] == [1, 1, 1, 1, 1]


def test_summarise_filters_on_app_and_reads_an_iterator_once():
    data = iter(records(5, 'a') + records(3, 'a', app='other') + records(2, 'b'))
    groups = nl.summarise(data, app='fleet')
    assert [(group['key']['variant'], group['requests']) for group in groups] == [('a', 5), ('b', 2)]


def test_summarise_without_group_by_makes_one_group():
    groups = nl.summarise(records(5, 'a') + records(5, 'b'), group_by=[])
    assert len(groups) == 1 and groups[0]['key'] == {} and groups[0]['requests'] == 10


def test_summarise_of_nothing_is_empty():
    assert nl.summarise([]) == []


def test_a_record_without_request_time_counts_as_a_request_but_not_as_a_latency():
    groups = nl.summarise([nl.parse_line('{"variant": "a", "status": 200}')] + records(2, 'a'))
    assert groups[0]['requests'] == 3 and groups[0]['latency']['count'] == 2


@pytest.mark.parametrize('group_by, message', [
    ('variant', 'must be a list of field names'),
    (['variant', 'variant'], 'names the field variant twice'),
    ([''], 'is not a field name'),
    ([1], 'is not a field name'),
    (None, 'must be a list of field names'),
])
def test_summarise_refuses_bad_group_by(group_by, message):
    with pytest.raises(nl.LogError, match=message):
        nl.summarise([], group_by=group_by)


@pytest.mark.parametrize('error_status', [99, 600, 'abc', None, True, 500.5])
def test_summarise_refuses_bad_error_status(error_status):
    with pytest.raises(nl.LogError, match='error_status .* is not an HTTP status'):
        nl.summarise([], error_status=error_status)


# -- merge --------------------------------------------------------------------------------------------------------

def random_records(seed, count=3000):
    rng = random.Random(seed)
    result = []
    for dummy in range(count):
        variant = rng.choice('ab')
        status = rng.choice([200] * 30 + [404, 499, 500, 502, 503] + ['-'])
        latency = round(math.exp(rng.gauss(math.log(0.01 if variant == 'a' else 0.015), 1.0)), 3)
        result.append(nl.parse_line(line(lb=rng.choice(['bj2-lb', 'hz-lb', 'sh-lb']), variant=variant,
                                         version=rng.choice(['3', '4']), status=status,
                                         request_time=rng.choice([latency] * 20 + ['-']))))
    return result


def assert_same_groups(left, right):
    assert len(left) == len(right)
    for one, other in zip(left, right):
        one, other = json.loads(json.dumps(one)), json.loads(json.dumps(other))
        for name in ('sum', 'mean'):
            assert one['latency'].pop(name) == pytest.approx(other['latency'].pop(name), abs=1e-5)
        assert one == other


@pytest.mark.parametrize('seed', [1, 2])
@pytest.mark.parametrize('by', [['variant'], ['variant', 'version'], []])
def test_merge_of_the_load_balancers_equals_the_summary_of_all_their_lines(seed, by):
    data = random_records(seed)
    per_lb = []
    for lb in ('bj2-lb', 'hz-lb', 'sh-lb'):
        part = [record for record in data if record['lb'] == lb]
        # Through JSON, as Ansible hands the results over (+Inf as text, floats as they print).
        per_lb.append(json.loads(json.dumps(nl.summarise(part, group_by=['lb', 'variant', 'version']))))
    assert_same_groups(nl.merge(per_lb, by=by), nl.summarise(data, group_by=by))


def test_merge_is_associative_and_keeps_key_field_order():
    data = random_records(3)
    first, second, third = (nl.summarise(data[i::3], group_by=['variant', 'lb']) for i in range(3))
    once = nl.merge([first, second, third], by=['lb', 'variant'])
    twice = nl.merge([nl.merge([first, second], by=['lb', 'variant']), third], by=['lb', 'variant'])
    assert_same_groups(once, twice)
    assert list(once[0]['key']) == ['lb', 'variant']


def test_merge_refuses_groups_without_the_field():
    groups = nl.summarise(records(3, 'a'), group_by=['lb'])
    with pytest.raises(nl.LogError) as error:
        nl.merge([groups], by=['variant'])
    assert str(error.value) == ('summary 0, group 0 has no variant in its key ({"lb": "bj2-lb"}): summarise with group_by '
                                'holding variant.')


@pytest.mark.parametrize('summaries, message', [
    ('x', 'the summaries to merge is str, not a list'),
    ({'groups': []}, 'the summaries to merge is dict'),
    (['x'], 'summary 0 is str'),
    ([[{'requests': 1}]], 'summary 0, group 0 is not a group of a summary'),
    ([[{'key': {'variant': 'a'}, 'requests': -1}]], 'summary 0, group 0.requests is -1'),
    ([[{'key': {'variant': 'a'}, 'requests': 1, 'errors': 2}]], 'has 2 errors in 1 requests'),
    ([[{'key': {'variant': 'a'}, 'requests': 1, 'statuses': {'200': 'x'}}]], 'statuses.200 is "x"'),
])
def test_merge_refuses_what_is_not_a_summary(summaries, message):
    with pytest.raises(nl.LogError) as error:
        nl.merge(summaries)
    assert message in str(error.value)


def test_groups_of_takes_results_loops_and_group_lists():
    one = {'changed': False, 'groups': nl.summarise(records(3, 'a'))}
    two = {'changed': False, 'groups': nl.summarise(records(4, 'b'))}
    assert nl.groups_of([one, two]) == [one['groups'], two['groups']]
    assert nl.groups_of({'results': [one, {'skipped': True}, two], 'changed': False}) == [one['groups'], two['groups']]
    assert nl.groups_of(one) == [one['groups']]
    assert nl.groups_of(one['groups']) == [one['groups']]
    assert nl.groups_of([one['groups'], two['groups']]) == [one['groups'], two['groups']]
    assert nl.groups_of([]) == []


@pytest.mark.parametrize('results, message', [
    ([{'failed': True, 'msg': 'container lb does not\nexist'}], 'results[0] is a failed task (container lb does not exist)'),
    ([{'changed': False}], 'results[0] has no groups'),
    ([42], 'results[0] is int'),
    ({'x': 1}, 'dictionary without groups or results'),
    ('text', 'results is str'),
])
def test_groups_of_refuses_other_input(results, message):
    with pytest.raises(nl.LogError) as error:
        nl.groups_of(results)
    assert message in str(error.value)


# -- verdict ------------------------------------------------------------------------------------------------------

def steady(index):
    """Latencies of a healthy variant: 2 to 11 ms."""
    return 0.002 + (index % 10) * 0.001


def test_verdict_passes_an_equal_candidate():
    groups = nl.summarise(records(400, 'a', errors=1, latency=steady) + records(398, 'b', errors=2, latency=steady))
    result = nl.verdict(groups)
    assert result['verdict'] == 'pass' and result['failed_check'] is None
    assert [check['name'] for check in result['checks']] == ['traffic', 'error_rate', 'latency']
    assert all(check['ok'] for check in result['checks'])
    assert result['baseline']['key'] == {'variant': 'a'} and result['candidate']['requests'] == 398
    traffic, errors, latency = result['checks']
    assert (traffic['baseline'], traffic['candidate'], traffic['limit']) == (400, 398, 20)
    assert traffic['message'] == 'b served 398 requests (a: 400), at least the 20 needed for a verdict'
    assert (errors['baseline'], errors['candidate'], errors['limit']) == (0.25, 0.5, 1.25)
    assert errors['message'] == 'b answered 0.5% errors (2 of 398) against 0.25% for a; the limit is 1.25%'
    assert latency['limit'] == pytest.approx(latency['baseline'] + 0.05)


def test_verdict_fails_a_candidate_with_ten_percent_errors():
    groups = nl.summarise(records(400, 'a', latency=steady) + records(398, 'b', errors=41, latency=steady))
    result = nl.verdict(groups)
    assert result['verdict'] == 'fail'
    assert result['failed_check'] == 'error_rate: b answered 10.3% errors (41 of 398) against 0.0% for a; the limit is 1.0%'
    errors = result['checks'][1]
    assert (errors['ok'], errors['baseline'], errors['candidate'], errors['limit']) == (False, 0.0, 10.3, 1.0)
    assert result['checks'][0]['ok'] and result['checks'][2]['ok']


def test_verdict_fails_a_slow_candidate():
    groups = nl.summarise(records(300, 'a', latency=lambda i: 0.05 + (i % 10) * 0.005)
                          + records(300, 'b', latency=lambda i: 0.2 + (i % 10) * 0.02))
    result = nl.verdict(groups)
    assert result['verdict'] == 'fail'
    latency = result['checks'][2]
    assert not latency['ok'] and latency['name'] == 'latency'
    assert latency['baseline'] < 0.1 and latency['candidate'] > 0.3
    assert latency['limit'] == pytest.approx(max(latency['baseline'] * 1.5, latency['baseline'] + 0.05))
    assert result['failed_check'].startswith("latency: b's p95 latency was ")
    assert " against %.1f ms for a; the limit is %.1f ms (1.5 times a's, or a's plus 50.0 ms)" % (
        latency['baseline'] * 1000, latency['limit'] * 1000) in result['failed_check']


def test_the_latency_slack_keeps_jitter_on_a_fast_baseline_from_failing():
    groups = nl.summarise(records(100, 'a', latency=0.001) + records(100, 'b', latency=0.01))
    result = nl.verdict(groups)
    assert result['verdict'] == 'pass'
    latency = result['checks'][2]
    assert latency['baseline'] <= 0.001 and latency['limit'] == pytest.approx(latency['baseline'] + 0.05)
    assert nl.verdict(groups, latency_slack=0.0)['verdict'] == 'fail'


def test_the_absolute_error_ceiling_applies_even_when_the_baseline_is_as_bad():
    groups = nl.summarise(records(100, 'a', errors=8) + records(100, 'b', errors=6))
    result = nl.verdict(groups)
    assert result['verdict'] == 'fail'
    assert result['checks'][1]['limit'] == 5.0
    assert nl.verdict(groups, max_error_rate=10)['verdict'] == 'pass'


def test_a_candidate_exactly_at_the_limits_passes():
    groups = nl.summarise(records(100, 'a', errors=1) + records(100, 'b', errors=2))
    assert nl.verdict(groups, max_error_rate_increase=1.0)['verdict'] == 'pass'
    assert nl.verdict(groups, max_error_rate_increase=0.99)['verdict'] == 'fail'
    assert nl.verdict(groups, min_requests=100)['verdict'] == 'pass'


def test_too_little_traffic_is_inconclusive():
    groups = nl.summarise(records(100, 'a') + records(5, 'b'))
    result = nl.verdict(groups)
    assert result['verdict'] == 'inconclusive'
    assert result['failed_check'] == 'traffic: b served only 5 requests (a: 100), fewer than the 20 needed for a verdict'
    assert [check['ok'] for check in result['checks']] == [False, True, True]


def test_too_little_traffic_with_a_failed_check_is_a_failure():
    groups = nl.summarise(records(100, 'a') + records(5, 'b', errors=5))
    result = nl.verdict(groups)
    assert result['verdict'] == 'fail'
    assert result['failed_check'].startswith('error_rate: b answered 100.0% errors (5 of 5)')


def test_a_candidate_without_requests_is_inconclusive():
    result = nl.verdict(nl.summarise(records(100, 'a')))
    assert result['verdict'] == 'inconclusive'
    assert result['candidate']['requests'] == 0 and result['candidate']['key'] == {'variant': 'b'}
    assert result['candidate']['latency']['p95'] is None
    assert result['failed_check'].startswith('traffic: b served only 0 requests')


def test_a_candidate_without_latencies_is_inconclusive():
    data = records(100, 'a') + [nl.parse_line('{"variant": "b", "status": 200}')] * 30
    result = nl.verdict(nl.summarise(data))
    assert result['verdict'] == 'inconclusive'
    assert result['failed_check'].startswith('latency: b has no latencies')


def test_a_baseline_without_requests_counts_as_perfect():
    result = nl.verdict(nl.summarise(records(100, 'b', latency=0.02)))
    assert result['verdict'] == 'pass'
    assert result['baseline']['requests'] == 0
    errors, latency = result['checks'][1:]
    assert errors['limit'] == 1.0 and '(a served no requests and counts as 0.0%)' in errors['message']
    assert latency['baseline'] is None and latency['limit'] == 0.05
    assert '(a has no latencies and counts as 0 s)' in latency['message']
    assert nl.verdict(nl.summarise(records(100, 'b', latency=0.2)))['verdict'] == 'fail'
    assert nl.verdict(nl.summarise(records(100, 'b', errors=2)))['verdict'] == 'fail'


def test_verdict_merges_groups_of_several_load_balancers_and_other_fields():
    data = random_records(5)
    groups = nl.summarise(data, group_by=['lb', 'variant', 'version'])
    merged = nl.summarise(data, group_by=['variant'])
    assert nl.verdict(groups) == nl.verdict(merged)
    result = nl.verdict(nl.summarise(data, group_by=['version']), baseline='3', candidate=4, field='version')
    assert result['candidate']['key'] == {'version': '4'}


def test_verdict_percentile_and_ratio():
    groups = nl.summarise(records(1000, 'a', latency=lambda i: 0.5 if i < 5 else 0.01)
                          + records(1000, 'b', latency=lambda i: 0.5 if i < 20 else 0.01))
    assert nl.verdict(groups, percentile=95)['verdict'] == 'pass'
    result = nl.verdict(groups, percentile=99)
    assert result['verdict'] == 'fail' and "b's p99 latency was" in result['failed_check']
    assert nl.verdict(groups, percentile=99, max_latency_ratio=100)['verdict'] == 'pass'


@pytest.mark.parametrize('arguments, message', [
    (dict(percentile=0), 'percentile 0 is not a percentile between 1 and 99.9'),
    (dict(percentile=100), 'percentile 100 is not a percentile'),
    (dict(percentile='p95'), 'percentile "p95" is not a percentile'),
    (dict(max_error_rate_increase=-1), 'max_error_rate_increase -1 must be a number of at least 0'),
    (dict(max_error_rate='x'), 'max_error_rate "x" must be a number of at least 0'),
    (dict(max_latency_ratio=0), 'max_latency_ratio 0 must be a number above 0'),
    (dict(latency_slack=-0.1), 'latency_slack -0.1 must be a number of at least 0'),
    (dict(min_requests=-1), 'min_requests -1 must be a whole number'),
    (dict(min_requests=True), 'min_requests true must be a whole number'),
    (dict(min_requests=2.5), 'min_requests 2.5 must be a whole number'),
    (dict(baseline='b'), 'baseline and candidate are both b'),
    (dict(candidate=''), 'candidate "" is not a value of the field variant'),
    (dict(baseline=None), 'baseline null is not a value of the field variant'),
    (dict(field=''), 'field holds "", which is not a field name'),
    (dict(field=['variant']), 'field holds ["variant"], which is not a field name'),
])
def test_verdict_refuses_bad_arguments(arguments, message):
    with pytest.raises(nl.LogError) as error:
        nl.verdict(nl.summarise(records(30, 'a') + records(30, 'b')), **arguments)
    assert message in str(error.value)


def test_verdict_refuses_groups_without_the_field():
    with pytest.raises(nl.LogError, match='has no variant in its key'):
        nl.verdict(nl.summarise(records(30, 'a'), group_by=['lb']))
    with pytest.raises(nl.LogError, match='groups is str'):
        nl.verdict('groups')


# -- reading the log (nginx_log_info) --------------------------------------------------------------------------------

def test_parse_timestamp_keeps_nanoseconds_and_offsets():
    base = 1796209200  # 2026-12-02T11:00:00Z
    assert task.parse_timestamp(b'2026-12-02T11:00:00.123456789Z') == base * task.NS + 123456789
    assert task.parse_timestamp('2026-12-02T11:00:00Z') == base * task.NS
    assert task.parse_timestamp('2026-12-02T11:00:00.5Z') == base * task.NS + 500000000
    assert task.parse_timestamp('2026-12-02T12:30:00.000000001+01:30') == base * task.NS + 1
    assert task.parse_timestamp('2026-12-02T09:00:00.000000001-02:00') == base * task.NS + 1
    for text in ('', 'nginx:', '2026-12-02 11:00:00Z', '2026-13-45T11:00:00Z', b'\xff'):
        assert task.parse_timestamp(text) is None


def test_seconds_to_ns_uses_the_decimal_the_float_prints_as():
    assert task.seconds_to_ns(1796209200.123456) == 1796209200123456000
    assert task.seconds_to_ns(1796209200.0) == 1796209200 * task.NS
    assert task.seconds_to_ns(0.5) == 500000000
    assert task.seconds_to_ns(task.parse_timestamp('2026-12-02T11:00:00.1Z') / task.NS) == 1796209200100000000


@pytest.mark.parametrize('offset', [0, 1, 999, 1000, 123456789, 999999999])
def test_epoch_seconds_read_back_at_or_before_the_instant(offset):
    ns = BASE_NS + offset
    seconds = task.epoch_seconds(ns)
    assert ns - 1000 < task.seconds_to_ns(seconds) <= ns
    assert task.seconds_to_ns(seconds) == ns // 1000 * 1000
    assert task.epoch_seconds(None) is None


def test_window_counts_negative_values_back_from_now():
    assert task.window(-300.0, None, 1000.0) == (700.0, 1000.0)
    assert task.window(-300.0, -60.0, 1000.0) == (700.0, 940.0)
    assert task.window(100.0, 200.0, 1000.0) == (100.0, 200.0)
    assert task.window(0.0, None, 1000.0) == (0.0, 1000.0)
    with pytest.raises(nl.LogError, match=r'until \(100.000000\) must come after since \(100.000000\)'):
        task.window(100.0, 100.0, 1000.0)
    with pytest.raises(nl.LogError, match='since nan is not a number'):
        task.window(float('nan'), None, 1000.0)


def test_check_match():
    assert task.check_match(None) == {}
    assert task.check_match({'uri': '/version', 'status': [200, 204]}) == {'uri': '/version', 'status': [200, 204]}
    for bad in ({'uri': None}, {'uri': []}, {'uri': {'a': 1}}, {'uri': [['x']]}):
        with pytest.raises(nl.LogError, match='match.uri must be a value'):
            task.check_match(bad)


@pytest.mark.parametrize('size', [1, 3, 7, 64, 100000])
def test_split_lines_joins_chunks_cut_anywhere(size):
    text = b'first line\r\nsecond\n\nthird {"a": 1}\nno newline at the end'
    chunks = [text[i:i + size] for i in range(0, len(text), size)]
    expected = [b'first line', b'second', b'', b'third {"a": 1}', b'no newline at the end']
    assert list(task.split_lines(chunks)) == expected
    assert list(task.split_lines(chunk.decode() for chunk in chunks)) == expected


def stamped(seconds, text):
    """A line as the engine streams it with timestamps (``seconds`` after 2026-12-02T11:00:00Z, nanoseconds kept)."""
    whole, fraction = divmod(seconds, task.NS)
    return ('2026-12-02T11:%02d:%02d.%09dZ %s\n' % (whole // 60, whole % 60, fraction, text)).encode('utf-8')


BASE_NS = 1796209200 * task.NS


def sample_log():
    """Lines at 0 s, 1 s (minus and plus 1 ns), 2 s, 3 s of the base time; one not JSON, one of another app."""
    return [
        stamped(0, line(variant='a')),
        stamped(task.NS - 1, line(variant='a', status=502)),
        stamped(task.NS, line(variant='b')),
        stamped(task.NS + 1, '/docker-entrypoint.sh: Configuration complete; ready for start up'),
        stamped(2 * task.NS, line(variant='b', app='other')),
        stamped(2 * task.NS + 5, line(variant='b', uri='/health')),
        stamped(3 * task.NS, line(variant='a')),
    ]


def test_the_scan_keeps_the_window_with_nanosecond_precision():
    scan = task.LogScan(BASE_NS + task.NS - 1, BASE_NS + 3 * task.NS, app='fleet')
    kept = list(scan.scan(task.split_lines(sample_log())))
    assert [(record['variant'], record['status']) for record in kept] == [('a', 502), ('b', 200), ('b', 200)]
    assert (scan.lines, scan.records, scan.skipped) == (5, 3, 2)
    assert scan.reasons == {'not_json': 1, 'other_app': 1, 'no_match': 0}
    assert (scan.first_ns, scan.last_ns) == (BASE_NS + task.NS - 1, BASE_NS + 2 * task.NS + 5)


def test_the_scan_applies_match_and_keeps_lines_without_timestamp_as_not_json():
    scan = task.LogScan(0, BASE_NS + 10 * task.NS, match={'uri': '/version'})
    kept = list(scan.scan(task.split_lines(sample_log() + [b'garbage without a timestamp\n'])))
    assert len(kept) == 5
    assert scan.reasons == {'not_json': 2, 'other_app': 0, 'no_match': 1}
    assert scan.lines == 8


class FakeApi(object):
    """Stands for ``docker.APIClient``: one container ``lb`` with :func:`sample_log` as its stdout, streamed in frames."""

    def __init__(self, chunk_size=None, driver='json-file'):
        self.chunk_size = chunk_size
        self.driver = driver
        self.calls = []

    def inspect_container(self, name):
        if name != 'lb':
            raise NotFound('No such container: %s' % name)
        return {'HostConfig': {'LogConfig': {'Type': self.driver}}}

    def logs(self, name, **kwargs):
        self.calls.append(kwargs)
        data = b''.join(sample_log())
        size = self.chunk_size or len(data)
        return iter([data[i:i + size] for i in range(0, len(data), size)])


class FakeClient(object):
    """Stands for ``DockerClient``: its module exits with the results or fails with the message."""

    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, api, **params):
        self.api = api
        self.params = dict(container='lb', since=None, until=None, app=None, group_by=['variant'], error_status=500, match=None)
        self.params.update(params)
        self.module = self
        self.closed = False

    def exit_json(self, **results):
        raise SystemExit(('exit', results))

    def fail(self, msg, **results):
        raise SystemExit(('fail', dict(results, msg=msg)))

    def api_errors(self, what, **results):
        return contextlib.nullcontext()

    def close(self):
        self.closed = True


def run(api, **params):
    with pytest.raises(SystemExit) as done:
        task.run_module(FakeClient(api, **params))
    return done.value.args[0]


@pytest.mark.parametrize('chunk_size', [None, 1, 50])
def test_run_module_summarises_the_window(chunk_size):
    api = FakeApi(chunk_size)
    # A float holds microseconds at today's epoch: the window starts 1 us before the line at 1 s minus 1 ns.
    since = (BASE_NS + task.NS - 1000) / task.NS
    kind, results = run(api, since=since, until=(BASE_NS + 3 * task.NS) / task.NS, app='fleet')
    assert kind == 'exit'
    assert results['changed'] is False
    assert (results['lines'], results['records'], results['skipped_lines']) == (5, 3, 2)
    # A true "skipped" would make Ansible report the task as skipped.
    assert 'skipped' not in results
    assert [(group['key'], group['requests'], group['errors']) for group in results['groups']] == [
        ({'variant': 'a'}, 1, 1), ({'variant': 'b'}, 2, 0)]
    # Rounded down to the microsecond, so that they read back as instants at or before their lines.
    assert repr(results['first_time']) == '1796209200.999999'
    assert repr(results['last_time']) == '1796209202.0'
    assert task.seconds_to_ns(results['first_time']) == BASE_NS + task.NS - 1000
    assert results['since'] == since
    # The engine is asked for whole seconds around the window, streamed, without following.
    assert api.calls == [dict(stdout=True, stderr=False, timestamps=True, stream=True, follow=False,
                              since=1796209200, until=1796209204)]


def test_run_module_since_0_reads_from_the_start():
    api = FakeApi()
    kind, results = run(api, since=0.0, until=(BASE_NS + 10 * task.NS) / task.NS, group_by=['variant', 'uri'], error_status=400)
    assert kind == 'exit' and results['records'] == 6 and results['skipped_lines'] == 1
    assert 'since' not in api.calls[0]
    assert [group['key'] for group in results['groups']] == [
        {'variant': 'a', 'uri': '/version'}, {'variant': 'b', 'uri': '/health'}, {'variant': 'b', 'uri': '/version'}]


def test_run_module_negative_since_counts_back_from_now_until_now():
    before = time.time()
    kind, results = run(FakeApi(), since=-60.0)
    assert kind == 'exit'
    assert before <= results['until'] <= time.time()
    assert results['since'] == results['until'] - 60


def test_run_module_without_records_returns_no_times():
    kind, results = run(FakeApi(), since=1.0, until=2.0)
    assert kind == 'exit'
    assert (results['lines'], results['groups'], results['first_time'], results['last_time']) == (0, [], None, None)


@pytest.mark.parametrize('params, message', [
    (dict(container='nope', since=-60.0), 'container nope does not exist on the Docker engine at unix:///var/run/docker.sock'),
    (dict(since=10.0, until=5.0), 'until (5.000000) must come after since (10.000000)'),
    (dict(since=-60.0, group_by=['a', 'a']), 'group_by names the field a twice'),
    (dict(since=-60.0, error_status=700), 'error_status 700 is not an HTTP status'),
    (dict(since=-60.0, match={'uri': None}), 'match.uri must be a value'),
])
def test_run_module_fails_clearly(params, message):
    kind, results = run(FakeApi(), **params)
    assert kind == 'fail'
    assert message in results['msg']
    assert results.get('changed', False) is False


def test_run_module_refuses_a_container_without_a_readable_log():
    kind, results = run(FakeApi(driver='none'), since=-60.0)
    assert kind == 'fail' and 'its log driver is none' in results['msg']
