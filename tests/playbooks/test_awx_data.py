"""The AWX data in awx/ (job templates, surveys, credential types, schedules) against the playbooks they run.

No AWX server runs here, so this checks what playbooks/awx_configure.yml would apply: every template names a playbook
of the project; every survey variable is one that playbook checks at its start (an assert's condition or message
names it); every survey question is one AWX takes (type, default among the choices, bounds); every credential type
is used by some template and injects variables the project reads; every schedule names a template and answers its
survey with values the survey allows.
"""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / 'awx'
BUILTIN_CREDENTIAL_TYPES = {'Machine', 'Vault'}
QUESTION_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """YAML with Ansible's !unsafe tag (the credential types' injectors are AWX's templates)."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def load(name):
    return yaml.load((AWX / name).read_text(encoding='utf-8'), Loader=_Loader)  # noqa: S506 (a SafeLoader)


TEMPLATES = load('job_templates.yml')['awx_job_templates']
CREDENTIAL_TYPES = load('credential_types.yml')['awx_credential_types']
SCHEDULES = load('schedules.yml')['awx_schedules']


def _tasks(items):
    for task in items or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(task.get(key))


def checked_text(playbook):
    """The conditions and messages of every assert task of ``playbook`` and of the playbooks it imports, and the
    argument specs its validate_argument_spec tasks check, as one text."""
    out = []
    for play in yaml.safe_load(playbook.read_text(encoding='utf-8')):
        if 'ansible.builtin.import_playbook' in play or 'import_playbook' in play:
            out.append(checked_text(playbook.parent / play.get('ansible.builtin.import_playbook', play.get('import_playbook'))))
            continue
        for key in ('pre_tasks', 'tasks'):
            for task in _tasks(play.get(key)):
                check = task.get('ansible.builtin.assert')
                if check:
                    out.append(yaml.safe_dump([check.get('that'), check.get('fail_msg'), check.get('msg')]))
                spec = task.get('ansible.builtin.validate_argument_spec')
                if spec:
                    out.append(' '.join(spec.get('argument_spec', {})))
    return '\n'.join(out)


def test_templates_have_unique_names_and_every_key_awx_configure_reads():
    names = [t['name'] for t in TEMPLATES]
    assert len(names) == len(set(names)), names
    for template in TEMPLATES:
        assert set(template) >= {'name', 'playbook', 'description', 'credential_types', 'allow_check', 'ask_limit',
                                 'concurrent', 'survey'}, template['name']
        assert all(isinstance(template[k], bool) for k in ('allow_check', 'ask_limit', 'concurrent')), template['name']


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_each_template_runs_a_playbook_of_the_project_that_checks_every_survey_variable(template):
    playbook = REPO / template['playbook']
    assert playbook.is_file(), '%s: no playbook %s' % (template['name'], template['playbook'])
    text = checked_text(playbook)
    for question in template['survey']:
        variable = question['variable']
        assert re.search(r'(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])' % re.escape(variable), text), (
            '%s: %s does not check the survey variable %s at its start' % (template['name'], template['playbook'], variable))


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_each_survey_question_is_one_awx_takes(template):
    variables = [q['variable'] for q in template['survey']]
    assert len(variables) == len(set(variables)), variables
    for question in template['survey']:
        where = '%s: %s' % (template['name'], question.get('variable'))
        assert re.match(r'^[a-z][a-z0-9_]*$', question['variable']), where
        assert question['variable'] != 'namespace', where + ': a name Ansible reserves'
        assert question['type'] in QUESTION_TYPES, where
        assert isinstance(question['required'], bool) and question['question'], where
        default = question.get('default')
        if question['type'] == 'multiplechoice':
            assert all(isinstance(c, str) for c in question['choices']), where + ': choices are strings'
            assert default in question['choices'], where + ': the default is not a choice'
        elif question['type'] == 'integer':
            assert isinstance(default, int) and question['min'] <= default <= question['max'], where
        else:
            assert isinstance(default, str), where
            assert 0 <= question['min'] <= question['max'], where
            assert len(default) <= question['max'], where
            assert not question['required'] or default == '' or len(default) >= question['min'], where


def test_every_credential_type_is_used_and_every_one_used_is_defined():
    defined = {t['name'] for t in CREDENTIAL_TYPES}
    used = {name for t in TEMPLATES for name in t['credential_types']}
    assert used <= defined | BUILTIN_CREDENTIAL_TYPES, used - defined - BUILTIN_CREDENTIAL_TYPES
    assert defined <= used, 'credential types no template uses: %s' % (defined - used)


@pytest.mark.parametrize('ctype', CREDENTIAL_TYPES, ids=[t['name'] for t in CREDENTIAL_TYPES])
def test_each_credential_type_injects_its_inputs_as_variables_the_project_reads(ctype):
    fields = {f['id']: f for f in ctype['inputs']['fields']}
    assert ctype['kind'] in ('cloud', 'net')
    assert set(ctype['inputs']['required']) <= set(fields)
    injected = ctype['injectors']['extra_vars']
    assert {re.sub(r'^\{\{ (\w+) \}\}$', r'\1', value) for value in injected.values()} == set(fields)
    sources = '\n'.join(p.read_text(encoding='utf-8') for folder in ('playbooks', 'roles')
                        for p in (REPO / folder).rglob('*.yml'))
    for variable in injected:
        assert re.search(r'(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])' % variable, sources), (
            '%s injects %s, which no playbook or role reads' % (ctype['name'], variable))
    assert any(f.get('secret') for f in fields.values()), ctype['name'] + ' carries no secret'


@pytest.mark.parametrize('schedule', SCHEDULES, ids=[s['name'] for s in SCHEDULES])
def test_each_schedule_runs_a_template_with_answers_its_survey_allows(schedule):
    templates = {t['name']: t for t in TEMPLATES}
    assert schedule['template'] in templates, schedule['template']
    assert re.match(r'^DTSTART;TZID=[A-Za-z_/]+:\d{8}T\d{6} RRULE:FREQ=(DAILY|HOURLY|WEEKLY|MONTHLY);', schedule['rrule'])
    survey = {q['variable']: q for q in templates[schedule['template']]['survey']}
    for variable, value in schedule['extra_data'].items():
        assert variable in survey, '%s answers %s, which its template does not ask' % (schedule['name'], variable)
        if survey[variable]['type'] == 'multiplechoice':
            assert value in survey[variable]['choices'], (schedule['name'], variable, value)
    missing = [v for v, q in survey.items() if q['required'] and not q['default'] and v not in schedule['extra_data']]
    assert not missing, '%s leaves required questions without an answer: %s' % (schedule['name'], missing)


def test_the_nightly_database_backup_is_scheduled():
    assert any(templates_playbook(s['template']) == 'playbooks/db_backup.yml' and 'FREQ=DAILY' in s['rrule']
               for s in SCHEDULES)


def templates_playbook(name):
    return next(t['playbook'] for t in TEMPLATES if t['name'] == name)
