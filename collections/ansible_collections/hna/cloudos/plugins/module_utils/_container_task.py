# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.container`` module: options, lock, plan, apply, honest and redacted results.

The module file holds the documentation and calls :func:`run_container`; everything it does is here,
on top of the table of container options (``_container_options``) and the engine (``_docker_engine``).
"""

from __future__ import annotations

from ansible_collections.hna.cloudos.plugins.module_utils._compose import read_env_file
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import (
    SpecError,
    container_argument_spec,
    module_diff,
    module_spec,
)
from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import (
    ContainerEngine,
    ContainerEngineError,
    container_facts,
)
from ansible_collections.hna.cloudos.plugins.module_utils._lock import LockError, container_lock, namespace_lock
from ansible_collections.hna.cloudos.plugins.module_utils._redact import (
    keep_output_unmasked,
    redact_diff,
    redact_differences,
    redact_facts,
    redacted_params,
)

CONTAINER_MODULE_KWARGS = dict(
    supports_check_mode=True,
    required_if=[('state', 'present', ['image']), ('state', 'started', ['image'])],
)


def container_module_argument_spec():
    """Return the options of the container module (a fresh dictionary each call)."""
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='started', choices=['present', 'started', 'stopped', 'restarted', 'absent']),
        image=dict(type='str'),
        pull=dict(type='str', default='missing', choices=['missing', 'always', 'never']),
        wait=dict(type='str', default='running', choices=['none', 'running', 'healthy']),
        wait_timeout=dict(type='int', default=60),
        force_kill=dict(type='bool', default=False),
        keep_volumes=dict(type='bool', default=True),
        env_visible=dict(type='list', elements='str', default=[]),
        lock_timeout=dict(type='int', default=300),
    )
    argument_spec.update(container_argument_spec())
    # Never logged by Ansible; the module redacts the values itself in what it returns (see _redact).
    argument_spec['env']['no_log'] = True
    return argument_spec


def _lock(client, params):
    if params.get('namespace'):
        return namespace_lock(client, params['namespace'], 'hna.cloudos.container', params['lock_timeout'])
    return container_lock(client, params['name'], 'hna.cloudos.container', params['lock_timeout'])


def run_container(client):
    """Run the container module with ``client`` (built from :func:`container_module_argument_spec`); exit the module."""
    params = client.params
    keep_output_unmasked(client.module, ['env'])
    visible = params['env_visible']
    results = dict(changed=False, container={}, actions=[], differences=[],
                   invocation=dict(module_args=redacted_params(params, ('env', ), visible)))

    def redact():
        for key in ('container', 'failed_container'):
            if key in results:
                results[key] = redact_facts(results[key], visible)
        results['differences'] = redact_differences(results['differences'], visible)
        if 'diff' in results:
            results['diff'] = redact_diff(results['diff'], visible)

    def fail(msg):
        redact()
        client.fail(msg, **results)

    for option in ('wait_timeout', 'lock_timeout'):
        if params[option] < 0:
            fail('%s must be 0 or more seconds, not %s.' % (option, params[option]))
    try:
        spec = module_spec(params, read_env_file)
    except SpecError as exc:
        fail(str(exc))

    lock = _lock(client, params)
    try:
        lock.acquire()
    except LockError as exc:
        fail('%s Nothing was changed.' % exc)

    engine = ContainerEngine(client)
    facts_before = None
    try:
        plan = engine.plan(spec, state=params['state'], pull=params['pull'])
        facts_before = container_facts(plan['container'])
        results.update(actions=plan['actions'], differences=plan['differences'], container=facts_before)
        if client.module._diff:
            results['diff'] = module_diff(plan, facts_before)
        results['container'] = engine.apply(plan, wait=params['wait'], timeout=params['wait_timeout'],
                                            force_kill=params['force_kill'], keep_volumes=params['keep_volumes'])
        results['changed'] = bool(plan['actions'])
    except SpecError as exc:
        lock.release()
        fail(str(exc))
    except ContainerEngineError as exc:
        lock.release()
        if exc.facts:
            results['failed_container'] = exc.facts
        if not client.check_mode and facts_before is not None:
            # Report the container as it is after the failure (the old one, when a replacement failed), and a change
            # only when the failure left another container, or the container in another state, than before.
            try:
                results['container'] = container_facts(engine.find(spec['name']))
            except ContainerEngineError:
                results['changed'] = True
            else:
                now = results['container']
                results['changed'] = (now.get('id'), now.get('status')) != (facts_before.get('id'), facts_before.get('status'))
        fail(exc.msg)
    lock.release()

    redact()
    client.close()
    client.module.exit_json(**results)
