#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: http_check
short_description: Check a set of HTTP endpoints round after round for a while, and name every failed answer
version_added: 0.1.0
description:
  - Sends one GET to every URL of O(checks) per round, one round every O(interval) seconds for O(duration) seconds,
    and fails when any answer has a status outside O(status_codes) or a header other than the check's O(checks[].headers)
    (or no answer at all - a refused connection or a timeout).
  - Made for the checks after a load-balancer switch - every load balancer and every new container answers, from the
    new version - which the release playbook runs once for the whole window on the control node, instead of one
    M(ansible.builtin.uri) task per URL and second.
  - Every failed answer is returned in RV(failures) with the check's O(checks[].name), so that the caller can name the
    host; RV(checks) counts the answers of each check.
  - Only GET; nothing is changed anywhere, so check mode runs the checks too (set O(duration=0) for one round).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  checks:
    description:
      - The endpoints, each checked once per round, in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description:
          - The URL, V(http://) or V(https://).
        type: str
        required: true
      name:
        description:
          - What the URL checks, returned with its failures (for example the inventory name of the host). Default - the URL.
        type: str
      headers:
        description:
          - Response headers the answer must have, with these exact values (for example C(X-App-Version) with V(2)).
        type: dict
      request_headers:
        description:
          - Headers to send with the request (for example C(X-Variant) with V(b), to ask a load balancer that runs an A/B
            test for one variant).
        type: dict
  duration:
    description:
      - Seconds to go on checking. The first round starts at once; V(0) runs one round.
    type: float
    default: 10
  interval:
    description:
      - Seconds from the start of one round to the start of the next.
    type: float
    default: 1
  timeout:
    description:
      - Seconds to wait for each answer.
    type: float
    default: 5
  status_codes:
    description:
      - The statuses that count as success. Default - every 2xx.
    type: list
    elements: int
  stop_on_failure:
    description:
      - End after the round in which the first failure happened (the caller acts on it at once), instead of running the
        whole O(duration).
    type: bool
    default: true
  validate_certs:
    description:
      - Verify the certificates of V(https://) URLs.
    type: bool
    default: true
  use_proxy:
    description:
      - Go through the proxy of the environment (C(http_proxy) and so on) if there is one.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - It only reads, so it checks in check mode too.
  diff_mode:
    support: none
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: full
    details:
      - It never changes anything.
  platform:
    support: full
    platforms: posix
seealso:
  - module: ansible.builtin.uri
notes:
  - "Run it where the URLs are reachable; the release playbook runs it on the control node (C(delegate_to: localhost))."
"""

EXAMPLES = r"""
- name: Every load balancer and every new container answers from version 2 for 10 s
  hna.cloudos.http_check:
    checks:
      - {name: bj2-node1, url: "http://10.231.0.11/health", headers: {X-App-Version: "2"}}
      - {name: hz-node1, url: "http://10.231.0.21/health", headers: {X-App-Version: "2"}}
      - {name: hz-node2, url: "http://10.231.0.22:18002/health"}
    duration: 10
  delegate_to: localhost
  register: checked
  ignore_errors: true

- name: Name the first failure
  ansible.builtin.debug:
    msg: "{{ checked.failures[0].name }}: {{ checked.failures[0].problem }}"
  when: checked is failed
"""

RETURN = r"""
rounds:
  description: How many rounds ran.
  type: int
  returned: always
  sample: 10
requests:
  description: How many requests were sent in all.
  type: int
  returned: always
  sample: 30
seconds:
  description: Seconds from the first request to the end of the last round.
  type: float
  returned: always
  sample: 9.03
checks:
  description: Per check, in the order of O(checks) - name, url, ok and failed (counts of answers).
  type: list
  elements: dict
  returned: always
  sample: [{name: hz-node1, url: "http://10.231.0.21/health", ok: 10, failed: 0}]
failures:
  description:
    - Every failed answer, oldest first - name, url, round (from 1), at (seconds since the first request), status (V(null)
      when nothing answered), the expected headers as they came (V(null) when absent), and problem (what was wrong, in words).
  type: list
  elements: dict
  returned: always
  sample:
    - name: hz-node2
      url: "http://10.231.0.22:18002/health"
      round: 3
      at: 2.01
      status: null
      headers: {}
      problem: "no answer: [Errno 111] Connection refused"
"""

import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url


def _header(response_headers, name):
    for key, value in response_headers:
        if key.lower() == name.lower():
            return value
    return None


def check_once(check, timeout, validate_certs, use_proxy, status_codes):
    """GET ``check['url']``; return ``(status, headers, problem)``, ``problem`` None when the answer is right."""
    status = None
    items = []
    try:
        response = open_url(check['url'], method='GET', timeout=timeout, validate_certs=validate_certs,
                            use_proxy=use_proxy, follow_redirects='none',
                            headers=dict((str(k), str(v)) for k, v in (check.get('request_headers') or {}).items()))
        try:
            response.read()
            status = response.getcode()
            items = list(response.headers.items())
        finally:
            response.close()
    except HTTPError as exc:
        status = exc.code
        items = list(exc.headers.items()) if exc.headers is not None else []
    except (URLError, OSError, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        return None, {}, 'no answer: %s' % reason
    except Exception as exc:  # pylint: disable=broad-except
        return None, {}, 'no answer: %s: %s' % (type(exc).__name__, exc)
    expected = check.get('headers') or {}
    seen = dict((name, _header(items, name)) for name in expected)
    problems = []
    if status not in status_codes:
        problems.append('status %s' % status)
    for name, value in expected.items():
        if seen[name] != str(value):
            problems.append('%s %s (expected %s)' % (name, 'missing' if seen[name] is None else seen[name], value))
    return status, seen, ', '.join(problems) or None


def run_checks(checks, duration, interval, timeout, status_codes, stop_on_failure, validate_certs=True, use_proxy=False,
               clock=time.monotonic, sleep=time.sleep):
    """Run the rounds; return the result dict of the module (without ``failed`` and ``msg``)."""
    counts = [{'name': c.get('name') or c['url'], 'url': c['url'], 'ok': 0, 'failed': 0} for c in checks]
    failures = []
    started = clock()
    rounds = requests = 0
    while True:
        round_started = clock()
        rounds += 1
        for index, check in enumerate(checks):
            status, seen, problem = check_once(check, timeout, validate_certs, use_proxy, status_codes)
            requests += 1
            if problem is None:
                counts[index]['ok'] += 1
            else:
                counts[index]['failed'] += 1
                failures.append({'name': counts[index]['name'], 'url': check['url'], 'round': rounds,
                                 'at': round(clock() - started, 2), 'status': status, 'headers': seen, 'problem': problem})
        if failures and stop_on_failure:
            break
        next_round = round_started + interval
        if next_round - started >= duration:
            break
        sleep(max(0.0, next_round - clock()))
    return {'rounds': rounds, 'requests': requests, 'seconds': round(clock() - started, 2), 'checks': counts,
            'failures': failures}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type='list', elements='dict', required=True, options=dict(
                url=dict(type='str', required=True),
                name=dict(type='str'),
                headers=dict(type='dict'),
                request_headers=dict(type='dict'),
            )),
            duration=dict(type='float', default=10),
            interval=dict(type='float', default=1),
            timeout=dict(type='float', default=5),
            status_codes=dict(type='list', elements='int'),
            stop_on_failure=dict(type='bool', default=True),
            validate_certs=dict(type='bool', default=True),
            use_proxy=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params['checks']:
        module.fail_json(msg='checks is empty: give at least one {url: ...} to check.')
    for check in params['checks']:
        if not check['url'].startswith(('http://', 'https://')):
            module.fail_json(msg='checks: url %s is not an http:// or https:// URL.' % check['url'])
    for name in ('duration', 'timeout'):
        if params[name] < 0:
            module.fail_json(msg='%s must be 0 or more seconds, not %s.' % (name, params[name]))
    if params['interval'] <= 0 or params['timeout'] <= 0:
        module.fail_json(msg='interval and timeout must be more than 0 seconds (interval %s, timeout %s).'
                         % (params['interval'], params['timeout']))
    status_codes = params['status_codes'] or list(range(200, 300))
    result = run_checks(params['checks'], params['duration'], params['interval'], params['timeout'], status_codes,
                        params['stop_on_failure'], params['validate_certs'], params['use_proxy'])
    if result['failures']:
        first = result['failures'][0]
        module.fail_json(msg='%d of %d answers failed; the first: %s (GET %s) in round %d: %s'
                         % (len(result['failures']), result['requests'], first['name'], first['url'], first['round'],
                            first['problem']), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
