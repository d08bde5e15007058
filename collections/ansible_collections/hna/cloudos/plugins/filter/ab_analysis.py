# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the A/B-test analysis: merge the access-log summaries of several load balancers, and judge a candidate.

The documentation of each filter is in the YAML file of its name next to this file (``nginx_log_merge.yml``,
``ab_verdict.yml``); the logic is in the ``_nginx_log`` module_utils, shared with the ``nginx_log_info`` module.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.hna.cloudos.plugins.module_utils._nginx_log import LogError, groups_of, merge, verdict


def nginx_log_merge(results, by=None):
    """The groups of ``results`` (``nginx_log_info`` results, or their ``groups`` lists) merged by the fields ``by``."""
    try:
        return merge(groups_of(results), by=['variant'] if by is None else by)
    except LogError as exc:
        raise AnsibleFilterError('nginx_log_merge: %s' % exc) from None


def ab_verdict(results, baseline='a', candidate='b', field='variant', max_error_rate_increase=1.0, max_error_rate=5.0,
               max_latency_ratio=1.5, latency_slack=0.05, percentile=95, min_requests=20):
    """The verdict on ``candidate`` against ``baseline`` over every summary of ``results`` (merged by ``field``)."""
    try:
        groups = [group for summary in groups_of(results) for group in summary]
        return verdict(groups, baseline=baseline, candidate=candidate, field=field,
                       max_error_rate_increase=max_error_rate_increase, max_error_rate=max_error_rate,
                       max_latency_ratio=max_latency_ratio, latency_slack=latency_slack, percentile=percentile,
                       min_requests=min_requests)
    except LogError as exc:
        raise AnsibleFilterError('ab_verdict: %s' % exc) from None


class FilterModule(object):
    """The A/B-test filters of hna.cloudos."""

    def filters(self):
        return {
            'nginx_log_merge': nginx_log_merge,
            'ab_verdict': ab_verdict,
        }
