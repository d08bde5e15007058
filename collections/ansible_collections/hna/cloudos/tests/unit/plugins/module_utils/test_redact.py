# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the redaction of environment values and build arguments."""

from __future__ import annotations

import json

from ansible_collections.hna.cloudos.plugins.module_utils import _redact

SECRET = 's3cr3t-Pa55'


def test_redact_map_keeps_keys_and_visible_values():
    assert _redact.redact_map({'PASSWORD': SECRET, 'TZ': 'UTC'}, visible=('TZ', )) == {'PASSWORD': '(hidden)', 'TZ': 'UTC'}
    assert _redact.redact_map(None) is None


def test_redact_change_marks_changes():
    before, after = _redact.redact_change({'A': '1', 'B': SECRET, 'GONE': 'x', 'TZ': 'UTC'},
                                          {'A': '1', 'B': SECRET + '2', 'NEW': 'y', 'TZ': 'CET'}, visible=('TZ', ))
    assert before == {'A': '(hidden)', 'B': '(hidden)', 'GONE': '(hidden)', 'TZ': 'UTC'}
    assert after == {'A': '(hidden)', 'B': '(changed)', 'NEW': '(added)', 'TZ': 'CET'}


def test_redact_differences_only_touches_secret_fields():
    differences = [dict(field='env', before={'P': SECRET}, after={'P': 'other'}, in_place=False),
                   dict(field='memory', before=1, after=2, in_place=True)]
    shown = _redact.redact_differences(differences)
    assert SECRET not in json.dumps(shown) and 'other' not in json.dumps(shown)
    assert shown[1] == differences[1]
    assert differences[0]['before'] == {'P': SECRET}  # the input is not changed


def test_redact_diff_of_a_container_and_of_a_stack():
    container = dict(before={'env': {'P': SECRET}, 'memory': 1}, after={'env': {'P': 'new'}, 'memory': 2})
    shown = _redact.redact_diff(container)
    assert shown['after'] == {'env': {'P': '(changed)'}, 'memory': 2}
    stack = dict(before={'db': {'env': {'P': SECRET}}, 'web': 'absent'},
                 after={'db': {'env': {'P': 'new'}}, 'web': {'env': {'K': SECRET}}})
    text = json.dumps(_redact.redact_diff(stack))
    assert SECRET not in text and '"new"' not in text
    assert _redact.redact_diff(stack)['after']['web'] == {'env': {'K': '(added)'}}


def test_redact_facts_and_params():
    facts = dict(name='web', env={'P': SECRET, 'PATH': '/bin'})
    assert _redact.redact_facts(facts, visible=('PATH', ))['env'] == {'P': '(hidden)', 'PATH': '/bin'}
    assert _redact.redact_facts({}) == {}
    params = dict(name='web', env={'P': SECRET}, build=dict(args={'TOKEN': SECRET}, path='/src'))
    shown = _redact.redacted_params(params, secret_maps=('env', 'build.args'))
    assert SECRET not in json.dumps(shown)
    assert shown['build']['path'] == '/src' and params['build']['args'] == {'TOKEN': SECRET}


def test_hide_values_replaces_the_longest_first():
    text = 'token %s, short %s, again %s' % (SECRET, SECRET[:4], SECRET)
    assert _redact.hide_values(text, [SECRET[:4], SECRET, '']) == 'token (hidden), short (hidden), again (hidden)'
    assert _redact.hide_values('nothing to hide', []) == 'nothing to hide'
    assert _redact.hide_values(None, [SECRET]) is None


class _Module(object):
    def __init__(self, params, no_log_values):
        self.params = params
        self.no_log_values = set(no_log_values)


def test_keep_output_unmasked_follows_a_suboption_path():
    module = _Module(dict(env={'A': '1'}, build=dict(args={'N': 2, 'T': SECRET})), ['1', '2', SECRET, 'other'])
    _redact.keep_output_unmasked(module, ['build.args'])
    assert module.no_log_values == {'1', 'other'}
    _redact.keep_output_unmasked(module, ['env', 'missing.path'])
    assert module.no_log_values == {'other'}
    _redact.keep_output_unmasked(_Module(dict(build=None), []), ['build.args'])
