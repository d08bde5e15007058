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
