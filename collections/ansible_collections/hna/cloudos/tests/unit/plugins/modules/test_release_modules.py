# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the runs of release, release_lock and release_info on a temporary root directory."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hna.cloudos.plugins.modules import release, release_info, release_lock

IMAGE = 'cloudos/fleet@sha256:' + 'ab' * 32


@pytest.fixture
def run(module_exits, module_args, tmp_path):
    module_exit, module_fail = module_exits

    def run_module(module, **args):
        args.setdefault('root_dir', str(tmp_path / 'releases'))
        args.setdefault('app', 'fleet')
        with module_args(args):
            with pytest.raises((module_exit, module_fail)) as outcome:
                module.main()
        return outcome.value.result

    return run_module


def _files(tmp_path):
    return sorted(os.path.relpath(os.path.join(top, name), str(tmp_path))
                  for top, dirs, names in os.walk(str(tmp_path)) for name in dirs + names)


def test_check_mode_writes_nothing(run, tmp_path):
    result = run(release, action='bundle', version='1', image=IMAGE, _ansible_check_mode=True)
    assert result['changed'] and result['bundle']['version'] == '1'
    result = run(release_lock, owner='alice', _ansible_check_mode=True)
    assert result['changed'] and result['lock']['owner'] == 'alice'
    assert _files(tmp_path) == []


def test_a_release_through_the_module_runs(run, tmp_path):
    assert run(release, action='bundle', version='1', image=IMAGE, user='alice')['changed']
    assert not run(release, action='bundle', version='1', image=IMAGE, user='bob')['changed']
    begun = run(release, action='begin', version='1', user='alice', note='first', _ansible_diff=True)
    assert begun['entry']['message'] == 'first'
    assert begun['diff']['before']['generation'] == 0 and begun['diff']['after']['generation'] == 1
    assert run(release, action='host_result', host='bj2-node1', results={'staged': 'ok'})['changed']
    assert run(release, action='activate', version='1')['ledger']['current'] == '1'
    finished = run(release, action='finish', result='ok')
    assert finished['changed'] and finished['entry']['result'] == 'ok'
    info = run(release_info)
    assert not info['changed']
    assert info['ledger'] == finished['ledger']
    assert info['table'][2].split()[:3] == ['1', '1', 'fleet@abababababab']
    assert info['retention'] is None and info['rollback'] is None
    assert _files(tmp_path) == ['releases', 'releases/production', 'releases/production/fleet',
                                'releases/production/fleet/.mutex', 'releases/production/fleet/bundles',
                                'releases/production/fleet/bundles/1.json', 'releases/production/fleet/ledger.json']


def test_errors_are_one_line(run):
    result = run(release, action='begin', version='1', user='alice')
    assert result['failed'] and result['msg'].startswith('there is no bundle of version 1 of fleet (production)')
    result = run(release, action='activate', version='1', app='Fleet')
    assert result['msg'].startswith('app "Fleet" is not an application name')
    result = run(release_lock, owner='alice', wait_timeout=-1)
    assert result['msg'] == 'wait_timeout must be 0 or more seconds, not -1.'
    run(release_lock, owner='alice')
    result = run(release_lock, owner='bob')
    assert result['failed'] and result['lock']['owner'] == 'alice' and result['lock']['expired'] is False
    assert 'held by alice' in result['msg'] and '\n' not in result['msg']


def test_finish_records_every_host_and_activates_in_one_write(run):
    run(release, action='bundle', version='1', image=IMAGE, user='alice')
    begun = run(release, action='begin', version='1', user='alice')
    generation = begun['ledger']['generation']
    hosts = {'bj2-node1': {'staged': 'ok', 'health': 'ok'}, 'hz-node1': {'staged': 'ok', 'health': 'ok'}}
    result = run(release, action='finish', result='ok', activate=True, host_results=hosts, entry=begun['entry']['id'])
    assert result['changed'] and result['ledger']['current'] == '1' and result['entry']['result'] == 'ok'
    assert result['entry']['hosts'] == hosts
    assert result['ledger']['generation'] > generation
    again = run(release, action='finish', result='ok', activate=True, host_results=hosts, entry=begun['entry']['id'])
    assert not again['changed'] and again['ledger'] == result['ledger']


def test_host_results_of_several_hosts_and_bad_combinations(run):
    run(release, action='bundle', version='1', image=IMAGE, user='alice')
    run(release, action='begin', version='1', user='alice')
    result = run(release, action='host_result', host_results={'a': {'staged': 'failed'}, 'b': {'staged': 'ok'}})
    assert result['changed'] and result['entry']['hosts'] == {'a': {'staged': 'failed'}, 'b': {'staged': 'ok'}}
    result = run(release, action='host_result', host='a')
    assert result['failed'] and result['msg'].startswith('host and results go together')
    result = run(release, action='host_result', host_results={'a': 'ok'})
    assert result['failed'] and 'must be a dictionary' in result['msg']
    result = run(release, action='host_result', host_results={'a': {'staged': 'fine'}})
    assert result['failed'] and 'is not one of' in result['msg']
    result = run(release, action='finish', result='failed', activate=True)
    assert result['failed'] and result['msg'].startswith('activate goes with result ok only')
    assert run(release_info)['ledger']['current'] is None


def test_secret_files_are_written_once_with_their_mode_and_owner(run, tmp_path):
    folder = tmp_path / 'secrets' / 'production' / 'fleet'
    args = dict(action='secrets', secrets={'db-password': 's3cret-value'}, secrets_dir=str(folder),
                secrets_uid=os.getuid(), secrets_gid=os.getgid())
    planned = run(release, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert planned['changed'] and planned['secrets'] == {'db-password': 'created'}
    assert planned['secrets_dir']['action'] == 'created' and not folder.exists()
    assert 's3cret-value' not in repr(planned)
    written = run(release, **args)
    assert written['changed'] and written['secrets'] == {'db-password': 'created'} and 's3cret-value' not in repr(written)
    assert (folder / 'db-password').read_text() == 's3cret-value'
    assert oct(os.stat(str(folder / 'db-password')).st_mode & 0o7777) == '0o400'
    assert oct(os.stat(str(folder)).st_mode & 0o7777) == '0o500'
    assert sorted(os.listdir(str(folder))) == ['db-password']
    rerun = run(release, **args)
    assert not rerun['changed'] and rerun['secrets'] == {'db-password': 'unchanged'}
    assert not run(release, _ansible_check_mode=True, **args)['changed']
    os.chmod(str(folder / 'db-password'), 0o644)
    assert run(release, **args)['secrets'] == {'db-password': 'updated'}
    assert oct(os.stat(str(folder / 'db-password')).st_mode & 0o7777) == '0o400'
    rotated = dict(args, secrets={'db-password': 'rotated'}, _ansible_diff=True)
    result = run(release, **rotated)
    assert result['secrets'] == {'db-password': 'updated'} and result['diff']['after'] == {'db-password': '(new content)'}
    assert (folder / 'db-password').read_text() == 'rotated'
    assert not (tmp_path / 'releases').exists()  # no ledger, no bundle


def test_secrets_keep_removes_the_files_of_secrets_that_left_the_inventory(run, tmp_path):
    folder = tmp_path / 'secrets'
    owner = dict(secrets_uid=os.getuid(), secrets_gid=os.getgid(), secrets_dir=str(folder))
    run(release, action='secrets', secrets={'db-password': 'a', 'old-token': 'b', 'api-key': 'c'}, **owner)
    # Without secrets_keep the other files stay, as before.
    left = run(release, action='secrets', secrets={'db-password': 'a'}, **owner)
    assert not left['changed'] and sorted(os.listdir(str(folder))) == ['api-key', 'db-password', 'old-token']
    # api-key is still in the inventory (another version reads it); old-token left it.
    args = dict(action='secrets', secrets={'db-password': 'a'}, secrets_keep=['api-key'], **owner)
    planned = run(release, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert planned['changed'] and planned['secrets'] == {'db-password': 'unchanged', 'old-token': 'removed'}
    assert planned['diff']['before'] == {'db-password': 'unchanged', 'old-token': '(old content)'}
    assert 'old-token' not in planned['diff']['after']
    assert (folder / 'old-token').exists()
    pruned = run(release, **args)
    assert pruned['changed'] and pruned['secrets'] == {'db-password': 'unchanged', 'old-token': 'removed'}
    assert sorted(os.listdir(str(folder))) == ['api-key', 'db-password']
    assert not run(release, **args)['changed']
    assert not run(release, _ansible_check_mode=True, **args)['changed']
    # Every secret gone from the inventory: the folder is emptied, and a missing one is not created.
    emptied = run(release, action='secrets', secrets={}, secrets_keep=[], **owner)
    assert emptied['changed'] and emptied['secrets'] == {'api-key': 'removed', 'db-password': 'removed'}
    assert os.listdir(str(folder)) == []
    absent = dict(owner, secrets_dir=str(tmp_path / 'never'))
    nothing = run(release, action='secrets', secrets={}, secrets_keep=[], **absent)
    assert not nothing['changed'] and nothing['secrets_dir']['action'] == 'absent'
    assert not (tmp_path / 'never').exists()
    bad = run(release, action='secrets', secrets={}, secrets_keep=['../etc'], **owner)
    assert bad['failed'] and bad['msg'].startswith('secret name "../etc" is not a file name')


def test_temporary_files_of_a_killed_write_are_removed_once_stale(run, tmp_path):
    folder = tmp_path / 'secrets'
    args = dict(action='secrets', secrets={'db-password': 'a'}, secrets_dir=str(folder), secrets_uid=os.getuid(),
                secrets_gid=os.getgid())
    run(release, **args)
    # What a write killed between its temporary file and the rename leaves: the value, under a hidden name.
    stale, fresh, other = folder / '.db-password.k2x9q_ab.tmp', folder / '.db-password.7hq2m0zd.tmp', folder / '.keep.me'
    for path in (stale, fresh, other):
        path.write_text('a')
    old = os.stat(str(stale)).st_mtime - 120
    os.utime(str(stale), (old, old))
    planned = run(release, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert planned['changed'] and planned['secrets'] == {'db-password': 'unchanged', stale.name: 'removed'}
    assert stale.exists()
    cleaned = run(release, **args)
    assert cleaned['changed'] and cleaned['secrets'] == {'db-password': 'unchanged', stale.name: 'removed'}
    # A write in progress (a fresh temporary file) and files that are not ours stay.
    assert sorted(os.listdir(str(folder))) == sorted(['db-password', fresh.name, other.name])
    assert not run(release, **args)['changed']
    assert not run(release, _ansible_check_mode=True, **args)['changed']


@pytest.mark.parametrize('secrets, secrets_dir, expected', [
    ({'../x': 'v'}, '/tmp/s', 'secret name "../x" is not a file name'),
    ({'.hidden': 'v'}, '/tmp/s', 'secret name ".hidden" is not a file name'),
    ({'x': 5}, '/tmp/s', 'the value of secret x must be text, not int'),
    ({'x': 'v'}, 'relative/dir', 'secrets_dir must be an absolute path'),
])
def test_bad_secrets_fail_in_one_line(run, tmp_path, secrets, secrets_dir, expected):
    result = run(release, action='secrets', secrets=secrets, secrets_dir=secrets_dir)
    assert result['failed'] and result['msg'].startswith(expected), result['msg']
    assert '\n' not in result['msg'] and not os.path.exists('/tmp/s/x')
