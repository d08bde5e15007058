# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runs of the modules ``release``, ``release_lock`` and ``release_info``: options, files, results."""

from __future__ import annotations

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils import _release as rel
from ansible_collections.hna.cloudos.plugins.module_utils import _release_store as store

RELEASE_ACTIONS = ('bundle', 'begin', 'host_result', 'finish', 'activate', 'forget', 'sync', 'ab', 'secrets')


def _common_spec():
    return dict(
        root_dir=dict(type='path', default=store.DEFAULT_ROOT),
        app=dict(type='str', required=True),
        environment=dict(type='str', default='production'),
    )


def release_argument_spec():
    spec = _common_spec()
    spec.update(
        action=dict(type='str', required=True, choices=list(RELEASE_ACTIONS)),
        version=dict(type='str'),
        image=dict(type='str'),
        env=dict(type='dict', default={}),
        run=dict(type='dict', default={}),
        lb=dict(type='dict', default={}),
        user=dict(type='str'),
        operation=dict(type='str', choices=list(rel.ACTIONS), default='release'),
        from_version=dict(type='str'),
        note=dict(type='str'),
        host=dict(type='str'),
        results=dict(type='dict'),
        host_results=dict(type='dict'),
        entry=dict(type='str'),
        result=dict(type='str', choices=['ok', 'failed']),
        activate=dict(type='bool', default=False),
        failed_host=dict(type='str'),
        ledger=dict(type='dict'),
        ab=dict(type='dict'),
        secrets=dict(type='dict', no_log=True),
        secrets_dir=dict(type='path', no_log=False),
        secrets_uid=dict(type='int', default=0, no_log=False),
        secrets_gid=dict(type='int', default=0, no_log=False),
        secrets_keep=dict(type='list', elements='str', no_log=False),
    )
    return spec


RELEASE_REQUIRED_IF = [
    ('action', 'bundle', ('version', 'image')),
    ('action', 'begin', ('version', 'user')),
    ('action', 'host_result', ('host', 'results', 'host_results'), True),
    ('action', 'secrets', ('secrets', 'secrets_dir')),
    ('action', 'finish', ('result',)),
    ('action', 'activate', ('version',)),
    ('action', 'forget', ('version',)),
    ('action', 'sync', ('ledger',)),
]


def lock_argument_spec():
    spec = _common_spec()
    spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        owner=dict(type='str', required=True),
        note=dict(type='str'),
        action=dict(type='str'),
        version=dict(type='str'),
        ttl=dict(type='int', default=1800),
        wait_timeout=dict(type='int', default=0),
        force=dict(type='bool', default=False),
    )
    return spec


def info_argument_spec():
    spec = _common_spec()
    spec.update(
        clouds=dict(type='dict', default={}),
        history=dict(type='int', default=20),
        copies=dict(type='dict'),
        rollback_version=dict(type='str'),
        keep=dict(type='int'),
    )
    return spec


def _files(module):
    params = module.params
    try:
        return store.ReleaseFiles(params['root_dir'], params['environment'], params['app'])
    except rel.ReleaseError as exc:
        module.fail_json(msg=str(exc), changed=False)


def _now():
    return store.format_time(time.time())


def _change_ledger(params, ledger, now):
    """Return ``(ledger after, changed, extra results)`` of the ledger actions of ``release``."""
    action = params['action']
    if action == 'begin':
        version = rel.validate_name('version', params['version'])
        after, entry = rel.begin(ledger, params['operation'], version, params['user'], now,
                                 from_version=params['from_version'], message=params['note'])
        return after, True, {'entry': entry}
    if action in ('host_result', 'finish'):
        # Every host's results (host_results), or one host's (host and results), then for finish: the entry's version
        # made current (activate, with result ok) and the entry closed; all in one write of the ledger.
        entry_id = params['entry'] or rel.find_entry(ledger)['id']
        given = dict(params['host_results'] or {})
        if params['host'] or params['results'] is not None:
            if not params['host'] or params['results'] is None:
                raise rel.ReleaseError('host and results go together: the inventory name of a host and its results.')
            given[params['host']] = params['results']
        after, changed = ledger, False
        for host in sorted(given):
            if not isinstance(given[host], dict):
                raise rel.ReleaseError('the results of %s must be a dictionary of step: ok|failed|skipped|running.' % host)
            after, one = rel.host_result(after, host, given[host], entry_id)
            changed = changed or one
        if action == 'finish':
            if params['activate']:
                if params['result'] != 'ok':
                    raise rel.ReleaseError('activate goes with result ok only: a failed entry makes no version current.')
                after, one = rel.activate(after, rel.find_entry(after, entry_id)['version'])
                changed = changed or one
            after, one = rel.finish(after, params['result'], now, failed_host=params['failed_host'],
                                    message=params['note'], entry_id=entry_id)
            changed = changed or one
        return after, changed, {'entry': rel.find_entry(after, entry_id)}
    if action == 'activate':
        after, changed = rel.activate(ledger, params['version'])
        return after, changed, {}
    if action == 'forget':
        after, changed = rel.forget(ledger, params['version'])
        return after, changed, {}
    if action == 'ab':
        after, changed = rel.set_ab(ledger, params['ab'], now)
        return after, changed, {'ab': after.get('ab')}
    given = rel.check_ledger(params['ledger'], ledger['app'], ledger['environment'], source='the given ledger')
    after, changed = rel.sync(ledger, given)
    return after, changed, {}


def _run_secrets(module):
    """Write the app's secret files (action secrets) and exit: names and what happened to each, never a value."""
    params = module.params
    try:
        rel.validate_name('app', params['app'])
        written, folder = store.write_secrets(params['secrets_dir'], params['secrets'], params['secrets_uid'],
                                              params['secrets_gid'], check_mode=module.check_mode,
                                              keep=params['secrets_keep'])
    except (rel.ReleaseError, store.StoreError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    changed = folder not in ('unchanged', 'absent') or any(action != 'unchanged' for action in written.values())
    result = dict(changed=changed, secrets=written, secrets_dir=dict(path=params['secrets_dir'], action=folder))
    if module._diff:
        result['diff'] = dict(before=dict((name, 'unchanged' if action == 'unchanged' else '(old content)')
                                          for name, action in written.items() if action != 'created'),
                              after=dict((name, 'unchanged' if action == 'unchanged' else '(new content)')
                                         for name, action in written.items() if action != 'removed'))
    module.exit_json(**result)


def run_release():
    module = AnsibleModule(argument_spec=release_argument_spec(), required_if=RELEASE_REQUIRED_IF,
                           supports_check_mode=True)
    params = module.params
    if params['action'] == 'secrets':
        _run_secrets(module)
    files = _files(module)
    try:
        with files.mutex(module.check_mode):
            ledger = files.read_ledger()
            before = ledger if ledger is not None else rel.new_ledger(files.app, files.environment)
            if params['action'] == 'bundle':
                wanted = rel.build_bundle(files.app, files.environment, params['version'], params['image'],
                                          env=params['env'], run=params['run'], lb=params['lb'], created=_now(),
                                          created_by=params['user'])
                previous = files.read_bundle(wanted['version'])
                stored, changed = files.store_bundle(wanted, check_mode=module.check_mode)
                result = dict(changed=changed, bundle=stored, ledger=before)
                if module._diff:
                    result['diff'] = dict(before=previous or {}, after=stored)
                module.exit_json(**result)
            if params['action'] == 'begin' and params['operation'] == 'rollback':
                rel.rollback_plan(before, params['version'])
            if params['action'] == 'begin' and params['operation'] in ('release', 'rollback'):
                if files.read_bundle(rel.validate_name('version', params['version'])) is None:
                    raise rel.ReleaseError('there is no bundle of version %s of %s (%s) in %s on this host; store it '
                                           'first with action=bundle.' % (params['version'], files.app,
                                                                          files.environment, files.bundle_dir))
            after, changed, extra = _change_ledger(params, before, _now())
            if changed and not module.check_mode:
                files.write_ledger(after)
    except (rel.ReleaseError, store.StoreError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    result = dict(changed=changed, ledger=after, **extra)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


def run_release_lock():
    module = AnsibleModule(argument_spec=lock_argument_spec(), supports_check_mode=True)
    params = module.params
    if params['ttl'] < 1:
        module.fail_json(msg='ttl must be at least 1 second, not %d.' % params['ttl'], changed=False)
    if params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must be 0 or more seconds, not %d.' % params['wait_timeout'], changed=False)
    if not params['owner'].strip():
        module.fail_json(msg='owner must not be empty: give who holds the lock (a person or a job).', changed=False)
    files = _files(module)
    try:
        before = files.read_lock()
        if params['state'] == 'present':
            outcome = files.acquire_lock(params['owner'], params['ttl'], wait_timeout=params['wait_timeout'],
                                         message=params['note'], action=params['action'], version=params['version'],
                                         check_mode=module.check_mode)
            result = dict(changed=outcome['changed'], lock=outcome['lock'], taken_over=outcome['taken_over'],
                          waited=outcome['waited'])
            after = outcome['lock']
        else:
            outcome = files.release_lock(params['owner'], force=params['force'], check_mode=module.check_mode)
            result = dict(changed=outcome['changed'], lock=None, released=outcome['lock'] if outcome['changed'] else None,
                          taken_over=None)
            after = None
    except (rel.ReleaseError, store.StoreError) as exc:
        module.fail_json(msg=str(exc), changed=False, lock=store.lock_state(files.read_lock_quietly()))
    if module._diff:
        result['diff'] = dict(before=before or {}, after=after or {})
    module.exit_json(**result)


def read_info(files, clouds=None, history=20, copies=None, rollback_version=None, keep=None):
    """Return the results of ``release_info`` for ``files`` (this host's release files)."""
    ledger = files.read_ledger()
    newest = None
    if copies:
        checked = []
        for host, copy in copies.items():
            if copy:
                copy = rel.check_ledger(copy, files.app, files.environment, source='the copy of %s' % host)
            checked.append((host, copy or None))
        newest = rel.newest_copy(checked)
        ledger = newest.pop('ledger')
    if ledger is None:
        ledger = rel.new_ledger(files.app, files.environment)
    bundles = files.bundles()
    rollback = None
    if rollback_version is not None:
        rollback = rel.rollback_plan(ledger, rollback_version)
    elif ledger['previous'] is not None and ledger['previous'] in ledger['retained']:
        rollback = rel.rollback_plan(ledger)
    retention = None if keep is None else rel.retention_plan(ledger, keep)
    return dict(ledger=ledger, bundles=bundles, table=rel.table(ledger, bundles, clouds or None, history),
                lock=store.lock_state(files.read_lock()), newest=newest, rollback=rollback, retention=retention)


def run_release_info():
    module = AnsibleModule(argument_spec=info_argument_spec(), supports_check_mode=True)
    params = module.params
    files = _files(module)
    try:
        info = read_info(files, params['clouds'], params['history'], params['copies'], params['rollback_version'],
                         params['keep'])
    except (rel.ReleaseError, store.StoreError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, **info)
