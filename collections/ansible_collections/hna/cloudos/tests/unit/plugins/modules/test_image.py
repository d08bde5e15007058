# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the image module's run: build arguments never shown (a fake image engine, no Docker engine needed)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _image_task
from ansible_collections.hna.cloudos.plugins.module_utils._docker_image import ImageError
from ansible_collections.hna.cloudos.plugins.modules import image

SECRET = 'Jp3-build-arg-SECRET-m9'
VERSION = {'Version': '20.10.24', 'ApiVersion': '1.41', 'MinAPIVersion': '1.12', 'Os': 'linux'}
BUILT = {'Id': 'sha256:' + 'b' * 64, 'RepoTags': ['apps/web:build'], 'RepoDigests': [], 'Size': 10,
         'Created': '2026-11-26T12:00:00Z', 'Config': {'Labels': {}}}


class FakeAPIClient(object):
    """Stands in for ``docker.APIClient``: only the connection's version request."""

    def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
        self.base_url = base_url

    def version(self, api_version=True):
        return dict(VERSION)

    def close(self):
        pass


class FakeImageEngine(object):
    """Stands in for ``ImageEngine``: a build that echoes its arguments, or fails quoting them."""

    builds = []
    fail_build = False

    def __init__(self, client, config_path=None, api=None):
        self.images = {}

    def inspect(self, ref):
        return self.images.get(ref)

    def build(self, path, tag, dockerfile='Dockerfile', args=None, target=None, labels=None, pull=False, nocache=False,
              context=None):
        FakeImageEngine.builds.append(dict(args))
        step = ['Step 1/2 : FROM hnatest/busybox:1'] + ['%s is %s' % (key, value) for key, value in sorted(args.items())]
        if FakeImageEngine.fail_build:
            raise ImageError('Building %s from %s failed at Step 2/2 : RUN false: exit 1. Output of the step: %s'
                             % (tag, path, ' | '.join(step[1:])))
        self.images[tag] = dict(BUILT, Config={'Labels': labels})
        return self.images[tag], step


@pytest.fixture
def context(tmp_path):
    (tmp_path / 'Dockerfile').write_text('FROM hnatest/busybox:1\nARG TOKEN\nARG LEVEL\nRUN echo "$TOKEN $LEVEL"\n')
    return str(tmp_path)


@pytest.fixture
def fake_engine(monkeypatch, clean_docker_env):
    FakeImageEngine.builds = []
    FakeImageEngine.fail_build = False
    monkeypatch.setattr(dc.docker, 'APIClient', FakeAPIClient)
    monkeypatch.setattr(_image_task, 'ImageEngine', FakeImageEngine)


@pytest.fixture
def run_module(fake_engine, module_exits, module_args):
    module_exit, module_fail = module_exits

    def run(args):
        with module_args(args):
            with pytest.raises((module_exit, module_fail)) as outcome:
                image.main()
        return outcome.value.result

    return run


def _build_args(context, **extra):
    args = dict(name='apps/web:build', source='build',
                build=dict(path=context, args=dict(TOKEN=SECRET, LEVEL=1)))
    args.update(extra)
    return args


def test_build_arg_values_are_hidden_but_reach_the_build(run_module, context):
    result = run_module(_build_args(context))
    assert FakeImageEngine.builds == [{'TOKEN': SECRET, 'LEVEL': '1'}]
    assert result['actions'] == ['built']
    assert SECRET not in json.dumps(result)
    assert result['invocation']['module_args']['build']['args'] == {'TOKEN': '(hidden)', 'LEVEL': '(hidden)'}
    assert 'TOKEN is (hidden)' in result['build_output']


def test_build_args_visible_shows_the_named_values(run_module, context):
    result = run_module(_build_args(context, build_args_visible=['LEVEL']))
    assert result['invocation']['module_args']['build']['args'] == {'TOKEN': '(hidden)', 'LEVEL': 1}
    assert result['build_output'] == ['Step 1/2 : FROM hnatest/busybox:1', 'LEVEL is 1', 'TOKEN is (hidden)']


def test_check_mode_hides_the_values(run_module, context):
    result = run_module(_build_args(context, _ansible_check_mode=True))
    assert FakeImageEngine.builds == []
    assert result['actions'] == ['built'] and result['changed'] is True
    assert SECRET not in json.dumps(result)


def test_failed_build_message_hides_the_values(run_module, context):
    FakeImageEngine.fail_build = True
    result = run_module(_build_args(context))
    assert result['failed'] is True
    assert 'TOKEN is (hidden)' in result['msg']
    assert SECRET not in json.dumps(result)
    assert result['invocation']['module_args']['build']['args']['TOKEN'] == '(hidden)'


def test_bad_reference_failure_hides_the_values(run_module, context):
    result = run_module(_build_args(context, name='apps/web@sha256:' + 'a' * 64))
    assert result['failed'] is True and result['msg'].startswith('Invalid image reference')
    assert SECRET not in json.dumps(result)


def test_what_ansible_prints_has_neither_the_secret_nor_masked_short_values(fake_engine, module_args, context, capsys):
    """The real exit_json: Ansible's own masking must not garble the output (LEVEL=1 is visible), nor the secret show."""
    with module_args(_build_args(context, build_args_visible=['LEVEL'])):
        with pytest.raises(SystemExit):
            image.main()
    printed = capsys.readouterr().out
    assert SECRET not in printed
    result = json.loads(printed)
    assert result['build_output'][0] == 'Step 1/2 : FROM hnatest/busybox:1'
    assert result['invocation']['module_args']['build']['args'] == {'TOKEN': '(hidden)', 'LEVEL': 1}


def test_hidden_build_arg_values():
    params = dict(build=dict(args=dict(A='x', B=2, C='', D='y')), build_args_visible=['D'])
    assert sorted(_image_task.hidden_build_arg_values(params)) == ['2', 'x']
    assert _image_task.hidden_build_arg_values(dict(build=None, build_args_visible=[])) == []


def test_build_args_are_never_logged_by_ansible():
    """no_log keeps the values out of Ansible's own logging (syslog, journal); the module redacts its output itself."""
    spec = _image_task.image_argument_spec()
    assert spec['build']['options']['args']['no_log'] is True
    assert spec['build_args_visible'] == dict(type='list', elements='str', default=[])


def test_images_list_items_become_single_image_parameters():
    params = dict(images=[], source='pull', force_source=True, push=False, config_path='/c.json', parallel=4)
    assert _image_task.item_params(params, dict(name='reg:5000/apps/web:1', repository=None, tag='latest')) == dict(
        name='reg:5000/apps/web:1', source='pull', build=None, build_args_visible=[], force_source=True, repository=None,
        tag='latest', push=False, state='present', config_path='/c.json')


def test_images_list_names_each_target_given_twice():
    params = dict(images=[dict(name='a:1', repository='reg/x', tag='1'), dict(name='b:1', repository='reg/x', tag='1'),
                          dict(name='c:1', repository='reg/x', tag='2'), dict(name='reg/x:2', repository=None, tag='latest'),
                          dict(name='d:1', repository='reg/y', tag=None)])
    assert _image_task.duplicate_targets(params) == ['reg/x:1', 'reg/x:2']
