# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the A/B-test filters nginx_log_merge and ab_verdict, with results shaped as nginx_log_info returns them."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hna.cloudos.plugins.filter import ab_analysis
from ansible_collections.hna.cloudos.plugins.module_utils import _nginx_log as nl


def lb_result(lb, counts):
    """An nginx_log_info result of load balancer ``lb``: ``counts`` maps a variant to (requests, errors, latency)."""
    records = []
    for variant, (requests, errors, latency) in counts.items():
        for index in range(requests):
            records.append({'lb': lb, 'app': 'fleet', 'variant': variant, 'status': 502 if index < errors else 200,
                            'request_time': latency})
    groups = nl.summarise(records, group_by=['lb', 'variant'])
    # Through JSON, as a registered result comes back.
    result = {'changed': False, 'groups': groups, 'lines': len(records), 'records': len(records), 'skipped_lines': 0}
    return json.loads(json.dumps(result))


RESULTS = [
    lb_result('bj2-lb', {'a': (200, 0, 0.004), 'b': (190, 20, 0.005)}),
    lb_result('hz-lb', {'a': (210, 1, 0.004), 'b': (208, 21, 0.005)}),
]


def test_the_filters_are_registered():
    assert ab_analysis.FilterModule().filters() == {'nginx_log_merge': ab_analysis.nginx_log_merge, 'ab_verdict': ab_analysis.ab_verdict}


def test_nginx_log_merge_adds_up_the_load_balancers():
    merged = ab_analysis.nginx_log_merge(RESULTS)
    assert [(group['key'], group['requests'], group['errors']) for group in merged] == [
        ({'variant': 'a'}, 410, 1), ({'variant': 'b'}, 398, 41)]
    assert merged[1]['error_rate'] == 10.3
    assert merged[0]['latency']['count'] == 410


def test_nginx_log_merge_by_other_fields_and_from_a_loop_or_groups():
    by_lb = ab_analysis.nginx_log_merge({'results': RESULTS, 'changed': False}, by=['lb'])
    assert [(group['key'], group['requests']) for group in by_lb] == [({'lb': 'bj2-lb'}, 390), ({'lb': 'hz-lb'}, 418)]
    assert ab_analysis.nginx_log_merge([result['groups'] for result in RESULTS]) == ab_analysis.nginx_log_merge(RESULTS)
    total = ab_analysis.nginx_log_merge(RESULTS, by=[])
    assert total[0]['key'] == {} and total[0]['requests'] == 808


def test_ab_verdict_fails_the_candidate_with_ten_percent_errors():
    result = ab_analysis.ab_verdict(RESULTS)
    assert result['verdict'] == 'fail'
    assert result['failed_check'] == 'error_rate: b answered 10.3% errors (41 of 398) against 0.24% for a; the limit is 1.24%'
    assert result['candidate']['requests'] == 398


def test_ab_verdict_passes_with_looser_thresholds_and_swapped_roles():
    assert ab_analysis.ab_verdict(RESULTS, max_error_rate_increase=15, max_error_rate=15)['verdict'] == 'pass'
    result = ab_analysis.ab_verdict(RESULTS, baseline='b', candidate='a')
    assert result['verdict'] == 'pass' and result['failed_check'] is None
    assert ab_analysis.ab_verdict(RESULTS, baseline='b', candidate='a', min_requests=1000)['verdict'] == 'inconclusive'


@pytest.mark.parametrize('arguments, message', [
    (dict(percentile=100), 'ab_verdict: percentile 100 is not a percentile between 1 and 99.9'),
    (dict(max_latency_ratio=-1), 'ab_verdict: max_latency_ratio -1 must be a number above 0'),
    (dict(baseline='a', candidate='a'), 'ab_verdict: baseline and candidate are both a'),
    (dict(field='version'), 'ab_verdict: summary 0, group 0 has no version in its key'),
])
def test_ab_verdict_raises_a_filter_error_on_bad_arguments(arguments, message):
    with pytest.raises(AnsibleFilterError) as error:
        ab_analysis.ab_verdict(RESULTS, **arguments)
    assert message in str(error.value)


@pytest.mark.parametrize('results, message', [
    ('text', 'results is str, not a list of nginx_log_info results'),
    ([{'failed': True, 'msg': 'container lb does not exist'}], 'results[0] is a failed task (container lb does not exist)'),
    ([{'changed': False}], 'results[0] has no groups'),
])
def test_the_filters_raise_a_filter_error_on_bad_input(results, message):
    for name, function in (('nginx_log_merge', ab_analysis.nginx_log_merge), ('ab_verdict', ab_analysis.ab_verdict)):
        with pytest.raises(AnsibleFilterError) as error:
            function(results)
        assert str(error.value).startswith('%s: ' % name)
        assert message in str(error.value)


def test_nginx_log_merge_refuses_a_field_missing_from_the_keys():
    with pytest.raises(AnsibleFilterError, match='nginx_log_merge: summary 0, group 0 has no version in its key'):
        ab_analysis.nginx_log_merge(RESULTS, by=['version'])
