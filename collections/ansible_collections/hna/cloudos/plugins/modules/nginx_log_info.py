#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_log_info
short_description: Summarise the JSON access log of an nginx container over a time window, by variant or any other field
version_added: 0.1.0
description:
  - Reads the access log of an nginx that runs in a Docker container and writes it to the container's stdout, one JSON
    object per request (the C(log_format) of the C(lb) role), through the Docker engine, with the engine's timestamps.
  - Keeps the lines whose engine timestamp is in the window from O(since) (included) to O(until) (excluded), with
    nanosecond precision, and of them the JSON objects of O(app) that match O(match). The other lines (not JSON, another
    app, not matching) are counted in RV(skipped_lines).
  - Returns, for each group of requests (by default by C(variant)), the number of requests, of errors and of each status,
    and the latencies (C(request_time)) in buckets with fixed bounds, so that the groups of several load balancers can be
    added up with the filter P(hna.cloudos.nginx_log_merge#filter) and judged with P(hna.cloudos.ab_verdict#filter).
  - The log is streamed line by line and summarised as it goes; its size does not matter to the memory of the module.
  - Lines longer than the engine's log line limit (16 KiB) are cut by the engine and counted as not JSON.
  - Never changes anything.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  container:
    description:
      - Name or ID of the container of nginx. It may have stopped; its log driver must let the engine read it back (for
        example C(json-file) or C(local)).
    type: str
    required: true
  since:
    description:
      - Start of the window, included, in seconds since the epoch on the host's clock (the engine's timestamps).
      - A negative number counts back from the time the module starts, for example V(-300) for the last five minutes.
      - V(0) reads the log from its start.
      - A float holds about a quarter of a microsecond at today's epoch. A value returned by an earlier run gives its
        instant back - RV(until) to read on from where that run stopped, RV(first_time) or RV(last_time) (rounded down to
        the microsecond) to start with that record.
    type: float
    required: true
  until:
    description:
      - End of the window, excluded, in seconds since the epoch; a negative number counts back from the time the module
        starts. Default - the time the module starts.
      - Give the RV(until) of one run as the O(since) of the next to read a log in consecutive windows, each line once.
    type: float
  app:
    description:
      - Only keep the requests whose C(app) field is this app; the others count as skipped.
    type: str
  group_by:
    description:
      - The fields whose values make a group, for example V([variant]) or V([lb, variant, version]).
      - Values are compared as text; a request without the field goes into the group with the value V('').
      - An empty list makes one group of every request kept.
    type: list
    elements: str
    default: [variant]
  error_status:
    description:
      - A request is an error when its status is this or higher, or when it has no status (or V(0)). The default counts
        the 5xx answers; V(400) counts the client errors too.
    type: int
    default: 500
  match:
    description:
      - "Only keep the requests whose fields have these values (compared as text); a list gives the values a field may
        have, for example V({uri: /version, method: [GET, HEAD]}). The others count as skipped."
    type: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
  - hna.cloudos.docker.info_module
attributes:
  platform:
    support: full
    platforms: posix
notes:
  - The module must reach the engine that runs the container (run it on that host, or give O(docker_host)).
  - The windows of several load balancers compare well when their clocks agree (NTP); give them the same O(since) and
    O(until), computed once.
seealso:
  - module: hna.cloudos.nginx_config
  - plugin: hna.cloudos.nginx_log_merge
    plugin_type: filter
  - plugin: hna.cloudos.ab_verdict
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Summarise the last five minutes of fleet on this load balancer, by variant
  hna.cloudos.nginx_log_info:
    container: lb
    app: fleet
    since: -300
  register: fleet_log

- name: Show the requests, error rates and p95 latencies of each variant
  ansible.builtin.debug:
    msg: "{{ item.key.variant }}: {{ item.requests }} requests, {{ item.error_rate }}% errors, p95 {{ item.latency.p95 }} s"
  loop: "{{ fleet_log.groups }}"

- name: Agree on one window for every load balancer (the last ten minutes, computed once)
  ansible.builtin.set_fact:
    ab_until: "{{ lookup('ansible.builtin.pipe', 'date +%s.%N') | float }}"
  run_once: true

- name: Read every load balancer over that window, by load balancer and variant, only GET /version
  hna.cloudos.nginx_log_info:
    container: lb
    app: fleet
    since: "{{ ab_until | float - 600 }}"
    until: "{{ ab_until }}"
    group_by: [lb, variant]
    match:
      method: GET
      uri: /version
  register: ab_log

- name: Judge variant b against variant a over all the load balancers
  ansible.builtin.assert:
    that: verdict.verdict != 'fail'
    fail_msg: "{{ verdict.failed_check }}"
  vars:
    verdict: "{{ ansible_play_hosts | map('extract', hostvars, 'ab_log') | hna.cloudos.ab_verdict(baseline='a', candidate='b') }}"
  run_once: true
"""

RETURN = r"""
container:
  description: The container, as given in O(container).
  returned: always
  type: str
  sample: lb
since:
  description: Start of the window (included), in seconds since the epoch.
  returned: always
  type: float
  sample: 1764673200.0
until:
  description: End of the window (excluded), in seconds since the epoch.
  returned: always
  type: float
  sample: 1764673800.0
lines:
  description: How many lines of the container's stdout fall into the window (RV(records) plus RV(skipped_lines)).
  returned: success
  type: int
  sample: 1203
records:
  description: How many of them were kept (JSON objects of O(app) matching O(match)) and summarised in RV(groups).
  returned: success
  type: int
  sample: 1200
skipped_lines:
  description:
    - How many lines of the window were left out.
    - Not called C(skipped), which Ansible would take for a skipped task.
  returned: success
  type: int
  sample: 3
skipped_reasons:
  description:
    - Why, as counts - C(not_json) (not a JSON object, such as a line nginx or its entrypoint printed), C(other_app) (the
      C(app) field is not O(app)), C(no_match) (a field does not have the value O(match) asks for).
  returned: success
  type: dict
  sample: {not_json: 2, other_app: 1, no_match: 0}
first_time:
  description:
    - Engine timestamp of the first record kept, in seconds since the epoch, rounded down to the microsecond; V(null)
      without records.
  returned: success
  type: float
  sample: 1764673200.012345
last_time:
  description:
    - Engine timestamp of the last record kept, in seconds since the epoch, rounded down to the microsecond; V(null)
      without records.
  returned: success
  type: float
  sample: 1764673799.987654
groups:
  description: One entry per group of records, sorted by key.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: The values of the O(group_by) fields of the group, as text.
      type: dict
      sample: {variant: b}
    requests:
      description: How many requests.
      type: int
      sample: 398
    errors:
      description: How many of them were errors (see O(error_status)).
      type: int
      sample: 41
    error_rate:
      description: The errors in percent of the requests, with two decimals (V(0.0) without requests).
      type: float
      sample: 10.3
    statuses:
      description: How many requests had each status; V('0') counts those without a status.
      type: dict
      sample: {'200': 357, '502': 41}
    latency:
      description:
        - The latencies (C(request_time), the seconds nginx spent on each request, upstream included) of the group.
        - The percentiles are estimated from the buckets (linear within the bucket that holds them), so they are as
          precise as the bucket bounds (about four per factor of ten, from 1 ms to 60 s).
      type: dict
      contains:
        buckets:
          description:
            - The buckets that hold latencies, each as V([upper bound in seconds, count]); the upper bound is included,
              and the last bucket's bound is V(+Inf). The bounds are fixed, so buckets of several groups add up.
          type: list
          elements: list
          sample: [[0.0032, 300], [0.0056, 57], [0.056, 41]]
        count:
          description: How many requests had a C(request_time).
          type: int
          sample: 398
        sum:
          description: Their sum, in seconds.
          type: float
          sample: 3.142
        max:
          description: The longest, in seconds; V(null) without latencies.
          type: float
          sample: 0.051
        p50:
          description: The median, in seconds; V(null) without latencies.
          type: float
          sample: 0.0027
        p95:
          description: The 95th percentile, in seconds; V(null) without latencies.
          type: float
          sample: 0.0412
        p99:
          description: The 99th percentile, in seconds; V(null) without latencies.
          type: float
          sample: 0.0501
        mean:
          description: The mean, in seconds; V(null) without latencies.
          type: float
          sample: 0.0079
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._nginx_log_task import argument_spec, run_module


def main():
    run_module(DockerClient(argument_spec=argument_spec(), supports_check_mode=True))


if __name__ == '__main__':
    main()
