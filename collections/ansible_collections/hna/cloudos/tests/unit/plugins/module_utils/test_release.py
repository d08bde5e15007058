# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the pure logic of release bundles and the ledger."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _release as rel

IMAGE = '10.231.0.11:5000/cloudos/fleet@sha256:' + 'ab' * 32
OTHER_IMAGE = '10.231.0.11:5000/cloudos/fleet@sha256:' + 'cd' * 32
T1, T2, T3 = '2026-12-01T10:00:00Z', '2026-12-01T10:05:00Z', '2026-12-01T10:09:00Z'


def _bundle(version='2', image=IMAGE, env=None, **kwargs):
    return rel.build_bundle('fleet', 'production', version, image, env=env if env is not None else {'JAVA_OPTS': '-Xmx256m'},
                            run={'memory': '512m', 'ports': ['8080']}, lb={'health_path': '/health'}, **kwargs)


def _released(*versions):
    """A ledger where each of ``versions`` was released (begin, activate, finish ok) in turn."""
    ledger = rel.new_ledger('fleet', 'production')
    for version in versions:
        ledger, _entry = rel.begin(ledger, 'release', version, 'alice', T1)
        ledger, _changed = rel.activate(ledger, version)
        ledger, _changed = rel.finish(ledger, 'ok', T2)
    return ledger


# -- Names ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('kind, value', [('app', 'fleet'), ('app', 'a1-b2'), ('environment', 'production'),
                                         ('version', '2'), ('version', '1.4.0-rc.1'), ('version', 'v2_hotfix')])
def test_valid_names(kind, value):
    assert rel.validate_name(kind, value) == value


@pytest.mark.parametrize('kind, value', [('app', 'Fleet'), ('app', '1fleet'), ('app', 'fleet_x'), ('app', ''),
                                         ('app', None), ('environment', 'prod env'), ('version', '-2'),
                                         ('version', '2/3'), ('version', '../x'), ('version', 'x' * 65),
                                         ('app', 'a' * 64)])
def test_invalid_names_name_the_input(kind, value):
    with pytest.raises(rel.ReleaseError) as error:
        rel.validate_name(kind, value)
    message = str(error.value)
    assert message.startswith('%s "%s" is not ' % (kind, '' if value is None else value))
    assert '\n' not in message


def test_a_tag_is_not_a_digest():
    with pytest.raises(rel.ReleaseError, match=r'image "cloudos/fleet:2" is not pinned by digest'):
        _bundle(image='cloudos/fleet:2')


# -- Bundles --------------------------------------------------------------------------------------------------

def test_fingerprint_is_the_content_not_the_creation():
    first = _bundle(created=T1, created_by='alice')
    second = _bundle(created=T2, created_by='bob')
    assert first['fingerprint'] == second['fingerprint']
    assert len(first['fingerprint']) == 64
    assert first['created'] == T1 and second['created_by'] == 'bob'
    assert rel.fingerprint(first) == first['fingerprint']


def test_fingerprint_ignores_key_order_but_not_values():
    one = _bundle(env={'A': '1', 'B': '2'})
    two = _bundle(env={'B': '2', 'A': '1'})
    three = _bundle(env={'A': '1', 'B': '3'})
    assert one['fingerprint'] == two['fingerprint'] != three['fingerprint']
    assert rel.canonical_json({'b': 1, 'a': [1, 'é']}) == '{"a":[1,"é"],"b":1}'.encode('utf-8')


def test_env_values_must_be_text():
    with pytest.raises(rel.ReleaseError, match=r'env "PORT" of version 2 must be text, not int'):
        _bundle(env={'PORT': 8080})


def test_same_bundle_compares_equal_and_other_content_is_refused():
    stored = _bundle(created=T1)
    assert rel.compare_bundle(None, stored) is False
    assert rel.compare_bundle(stored, _bundle(created=T3)) is True
    with pytest.raises(rel.ReleaseError) as error:
        rel.compare_bundle(stored, _bundle(image=OTHER_IMAGE, env={}))
    assert str(error.value) == ('version 2 of fleet already exists with other content (env, image differ); '
                                'use a new version.')


def test_a_tampered_stored_bundle_is_other_content():
    stored = _bundle()
    tampered = dict(stored, env={'JAVA_OPTS': '-Xmx1g'})
    with pytest.raises(rel.ReleaseError, match='env differ'):
        rel.compare_bundle(tampered, _bundle())


def test_short_image():
    assert rel.short_image(IMAGE) == 'fleet@abababababab'
    assert rel.short_image(None) == '-'


# -- Ledger transitions ---------------------------------------------------------------------------------------

def test_begin_adds_a_running_entry_and_a_slot():
    empty = rel.new_ledger('fleet', 'production')
    ledger, entry = rel.begin(empty, 'release', '1', 'alice', T1, message='first')
    assert empty['generation'] == 0 and empty['history'] == []  # the input is not changed
    assert ledger['generation'] == 1
    assert entry == {'id': '1', 'action': 'release', 'version': '1', 'from_version': None, 'started': T1,
                     'finished': None, 'user': 'alice', 'result': 'running', 'failed_host': None, 'message': 'first',
                     'hosts': {}}
    assert ledger['retained'] == ['1'] and ledger['slots'] == {'1': 0}
    assert ledger['current'] is None


def test_begin_closes_a_forgotten_running_entry():
    ledger, _entry = rel.begin(rel.new_ledger('fleet', 'production'), 'release', '1', 'alice', T1)
    ledger, entry = rel.begin(ledger, 'release', '1', 'bob', T2)
    first = ledger['history'][0]
    assert first['result'] == 'failed' and first['finished'] == T2
    assert first['message'] == 'never finished; superseded by entry %s' % entry['id']
    assert entry['result'] == 'running'


def test_begin_of_finish_or_abort_retains_nothing():
    ledger = _released('1')
    after, entry = rel.begin(ledger, 'finish', '1', 'alice', T3)
    assert after['retained'] == ['1'] and entry['action'] == 'finish' and entry['from_version'] == '1'
    with pytest.raises(rel.ReleaseError, match='action "deploy" is not one of release, rollback, finish, abort, abtest, promote'):
        rel.begin(ledger, 'deploy', '1', 'alice', T3)


def test_host_results_are_recorded_once():
    ledger, entry = rel.begin(rel.new_ledger('fleet', 'production'), 'release', '1', 'alice', T1)
    after, changed = rel.host_result(ledger, 'bj2-node1', {'staged': 'ok'})
    assert changed and after['generation'] == ledger['generation'] + 1
    after, changed = rel.host_result(after, 'bj2-node1', {'health': 'failed'}, entry_id=entry['id'])
    assert after['history'][-1]['hosts'] == {'bj2-node1': {'staged': 'ok', 'health': 'failed'}}
    again, changed = rel.host_result(after, 'bj2-node1', {'staged': 'ok'})
    assert not changed and again is after
    with pytest.raises(rel.ReleaseError, match='result "fine" of step health on bj2-node1 is not one of'):
        rel.host_result(after, 'bj2-node1', {'health': 'fine'})
    with pytest.raises(rel.ReleaseError, match='has no history entry 99; its last one is 1'):
        rel.host_result(after, 'bj2-node1', {'staged': 'ok'}, entry_id='99')
    with pytest.raises(rel.ReleaseError, match='has no history yet'):
        rel.host_result(rel.new_ledger('fleet', 'production'), 'bj2-node1', {'staged': 'ok'})


def test_finish_ok_failed_and_again():
    ledger, _entry = rel.begin(rel.new_ledger('fleet', 'production'), 'release', '1', 'alice', T1)
    failed, changed = rel.finish(ledger, 'failed', T2, failed_host='hz-node2', message='health check failed')
    assert changed
    assert failed['history'][-1]['result'] == 'failed'
    assert failed['history'][-1]['failed_host'] == 'hz-node2' and failed['history'][-1]['finished'] == T2
    same, changed = rel.finish(failed, 'failed', T3)
    assert not changed and same is failed
    with pytest.raises(rel.ReleaseError, match='already finished as failed; begin a new action instead'):
        rel.finish(failed, 'ok', T3)
    ok, _changed = rel.finish(ledger, 'ok', T2, failed_host='ignored')
    assert ok['history'][-1]['failed_host'] is None


def test_activate_moves_current_to_previous():
    ledger = _released('1', '2')
    assert (ledger['current'], ledger['previous']) == ('2', '1')
    assert ledger['slots'] == {'1': 0, '2': 1}
    same, changed = rel.activate(ledger, '2')
    assert not changed and same is ledger
    back, changed = rel.activate(ledger, '1')
    assert changed and (back['current'], back['previous']) == ('1', '2')
    with pytest.raises(rel.ReleaseError, match=r'version 7 of fleet is not retained \(retained: 1, 2\)'):
        rel.activate(ledger, '7')


def test_slots_reuse_the_lowest_free_one():
    assert rel.assign_slot({}) == 0
    assert rel.assign_slot({'1': 0, '2': 2}) == 1
    ledger = _released('1', '2', '3')
    ledger, _changed = rel.forget(ledger, '1')
    assert ledger['slots'] == {'2': 1, '3': 2}
    ledger, entry = rel.begin(ledger, 'release', '4', 'alice', T3)
    assert ledger['slots']['4'] == 0


def test_forget_never_current_or_previous():
    ledger = _released('1', '2', '3')
    with pytest.raises(rel.ReleaseError, match='version 3 of fleet is the current version and cannot be forgotten'):
        rel.forget(ledger, '3')
    with pytest.raises(rel.ReleaseError, match='version 2 of fleet is the previous version'):
        rel.forget(ledger, '2')
    after, changed = rel.forget(ledger, '1')
    assert changed and after['retained'] == ['2', '3'] and '1' not in after['slots']
    again, changed = rel.forget(after, '1')
    assert not changed and again is after


def test_retention_keeps_current_previous_and_the_most_recent():
    ledger = _released('1', '2', '3', '4', '5')
    assert rel.retention_plan(ledger, 3) == ['1', '2']
    assert rel.retention_plan(ledger, 1) == ['1', '2', '3']  # never current or previous
    assert rel.retention_plan(ledger, 10) == []
    # A rollback to 2 makes it current and 5 previous: 3 and 4 are the oldest others now.
    rolled, _entry = rel.begin(ledger, 'rollback', '2', 'bob', T3)
    rolled, _changed = rel.activate(rolled, '2')
    assert (rolled['current'], rolled['previous']) == ('2', '5')
    assert rel.retention_plan(rolled, 3) == ['1', '3']
    with pytest.raises(rel.ReleaseError, match='keep must be a whole number of at least 1, not 0'):
        rel.retention_plan(ledger, 0)


def test_newest_copy_wins_and_names_the_stale_hosts():
    old = _released('1')
    new = _released('1', '2')
    chosen = rel.newest_copy([('bj2-node1', old), ('bj2-node2', new), ('hz-node1', None), ('hz-node2', copy.deepcopy(new))])
    assert chosen['host'] == 'bj2-node2' and chosen['ledger'] is new
    assert chosen['generation'] == new['generation']
    assert chosen['stale_hosts'] == ['bj2-node1', 'hz-node1']
    nothing = rel.newest_copy([('a', None)])
    assert nothing == {'host': None, 'ledger': None, 'generation': 0, 'stale_hosts': ['a']}


def test_sync_only_writes_a_newer_generation():
    old = _released('1')
    new = _released('1', '2')
    assert rel.sync(old, new) == (new, True)
    assert rel.sync(new, old) == (new, False)
    assert rel.sync(new, copy.deepcopy(new))[1] is False
    assert rel.sync(None, old) == (old, True)


def test_rollback_plan():
    ledger = _released('1', '2', '3')
    assert rel.rollback_plan(ledger) == {'version': '2', 'from_version': '3', 'slot': 1}
    assert rel.rollback_plan(ledger, '1') == {'version': '1', 'from_version': '3', 'slot': 0}
    with pytest.raises(rel.ReleaseError) as error:
        rel.rollback_plan(ledger, '0')
    assert str(error.value) == ('version 0 of fleet (production) is not retained, so it cannot be rolled back to; '
                                'retained versions: 1, 2, 3.')
    with pytest.raises(rel.ReleaseError, match='version 3 of fleet .* is already current'):
        rel.rollback_plan(ledger, '3')
    with pytest.raises(rel.ReleaseError, match=r'has no previous version to roll back to; retained versions: 1\.'):
        rel.rollback_plan(_released('1'))


def test_check_ledger():
    ledger = _released('1')
    assert rel.check_ledger(ledger, 'fleet', 'production') is ledger
    with pytest.raises(rel.ReleaseError, match=r'belongs to fleet \(production\), not to fleet \(staging\)'):
        rel.check_ledger(ledger, 'fleet', 'staging')
    with pytest.raises(rel.ReleaseError, match='has format 2'):
        rel.check_ledger(dict(ledger, format=2), 'fleet', 'production')
    with pytest.raises(rel.ReleaseError, match='no valid generation'):
        rel.check_ledger(dict(ledger, generation='7'), 'fleet', 'production')
    with pytest.raises(rel.ReleaseError, match='no valid history'):
        rel.check_ledger(dict(ledger, history={}), 'fleet', 'production')
    with pytest.raises(rel.ReleaseError, match='is not a JSON object'):
        rel.check_ledger([], 'fleet', 'production')


# -- Table ----------------------------------------------------------------------------------------------------

def test_table_per_cloud_and_per_host():
    ledger = _released('1')
    ledger, _entry = rel.begin(ledger, 'release', '2', 'bob', T3)
    for host, health in (('bj2-node1', 'ok'), ('bj2-node2', 'ok'), ('hz-node1', 'ok'), ('hz-node2', 'failed')):
        ledger, _changed = rel.host_result(ledger, host, {'staged': 'ok', 'health': health})
    ledger, _changed = rel.finish(ledger, 'failed', T3, failed_host='hz-node2')
    bundles = {'1': _bundle('1'), '2': _bundle('2', image=OTHER_IMAGE)}
    clouds = {'bj2-node1': 'hna-bj2', 'bj2-node2': 'hna-bj2', 'hz-node1': 'aliyun-hz', 'hz-node2': 'aliyun-hz'}
    lines = rel.table(ledger, bundles, clouds)
    assert lines[0] == 'fleet (production): current 1, previous -, retained 1@0 2@1, generation %d' % ledger['generation']
    assert lines[1].split() == ['ID', 'VERSION', 'IMAGE', 'WHO', 'STARTED', 'ACTION', 'RESULT', 'HOSTS']
    assert lines[2].split()[:7] == ['1', '1', 'fleet@abababababab', 'alice', T1, 'release', 'ok']
    assert lines[3].split()[1:3] == ['1->2', 'fleet@cdcdcdcdcdcd']
    assert lines[3].endswith('failed on hz-node2  aliyun-hz 1/2 failed, hna-bj2 2/2 ok')
    per_host = rel.table(ledger, bundles)
    assert per_host[3].endswith('bj2-node1 ok, bj2-node2 ok, hz-node1 ok, hz-node2 failed')
    assert len(rel.table(ledger, bundles, None, limit=1)) == 3
    assert rel.table(rel.new_ledger('fleet', 'production'), {})[0].startswith('fleet (production): current -, previous -')


# -- A/B tests ------------------------------------------------------------------------------------------------

def _ab(**changes):
    state = {'variant': '2', 'baseline': '1', 'state': 'running', 'weight': 5, 'steps': [1, 5, 25, 50, 100], 'key': ''}
    state.update(changes)
    return state


def test_begin_of_an_ab_test_retains_the_variant_and_shows_both_versions():
    ledger = _released('1')
    after, entry = rel.begin(ledger, 'abtest', '2', 'alice', T2)
    assert after['retained'] == ['1', '2'] and after['slots'] == {'1': 0, '2': 1}
    assert entry['from_version'] == '1' and after['current'] == '1'
    assert '1->2' in '\n'.join(rel.table(after, {}))


def test_set_ab_records_the_state_once_and_removes_it():
    ledger, _entry = rel.begin(_released('1'), 'abtest', '2', 'alice', T2)
    after, changed = rel.set_ab(ledger, _ab(), T2)
    assert changed and after['generation'] == ledger['generation'] + 1
    assert after['ab'] == dict(_ab(), updated=T2)
    again, changed = rel.set_ab(after, _ab(), T3)  # only the time differs
    assert not changed and again is after
    moved, changed = rel.set_ab(after, _ab(weight='25'), T3)  # templated values may come as text
    assert changed and moved['ab']['weight'] == 25 and moved['ab']['updated'] == T3
    removed, changed = rel.set_ab(moved, None, T3)
    assert changed and 'ab' not in removed
    assert rel.set_ab(removed, None, T3) == (removed, False)
    assert rel.check_ledger(moved, 'fleet', 'production') is moved
    assert rel.table(moved, {})[1] == 'A/B test: 2 (b) against 1 (a), running, weight 25%'
    moved['ab'].update(analysis={'summary': 'weight 25%: analysis fail'}, failed_check='error_rate: 10%')
    assert rel.table(moved, {})[1] == ('A/B test: 2 (b) against 1 (a), running, weight 25%; last analysis: weight 25%: '
                                       'analysis fail; failed check: error_rate: 10%')


@pytest.mark.parametrize('changes, message', [
    ({'variant': '1'}, 'the variant 1 is the baseline itself'),
    ({'variant': '3'}, 'the variant 3 of fleet is not retained'),
    ({'state': 'paused'}, 'state "paused" is not one of running, promoted, aborted'),
    ({'weight': 101}, 'weight 101 is not a whole percent from 0 to 100'),
    ({'weight': True}, 'weight true is not a whole percent'),
    ({'steps': [5, 1]}, r'steps \[5, 1\] must be rising whole percents'),
    ({'steps': []}, 'steps'),
    ({'steps': [0, 5]}, 'must be rising whole percents from 1 to 100'),
    ({'variant': '../x'}, 'version "../x" is not a version'),
])
def test_set_ab_refuses_a_bad_state(changes, message):
    ledger, _entry = rel.begin(_released('1'), 'abtest', '2', 'alice', T2)
    with pytest.raises(rel.ReleaseError, match=message):
        rel.set_ab(ledger, _ab(**changes), T2)
    with pytest.raises(rel.ReleaseError, match='ab has no weight'):
        rel.set_ab(ledger, {'variant': '2', 'baseline': '1', 'state': 'running', 'steps': [1]}, T2)
