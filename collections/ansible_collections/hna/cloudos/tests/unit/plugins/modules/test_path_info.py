# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of path_info (real files in a temporary directory) and of the path_matching test on its answers."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hna.cloudos.plugins.modules.path_info import path_facts
from ansible_collections.hna.cloudos.plugins.test.path_matching import path_matching


ME = pwd.getpwuid(os.getuid())[0]
MY_GROUP = grp.getgrgid(os.getgid())[0]


@pytest.fixture
def tree(tmp_path):
    (tmp_path / 'conf').mkdir(mode=0o750)
    os.chmod(tmp_path / 'conf', 0o750)
    (tmp_path / 'conf' / 'app.conf').write_text('listen 80\n')
    os.chmod(tmp_path / 'conf' / 'app.conf', 0o640)
    os.symlink('app.conf', tmp_path / 'conf' / 'link')
    os.symlink('missing', tmp_path / 'conf' / 'dangling')
    return tmp_path


def test_a_file_has_its_checksum_owner_group_and_mode(tree):
    facts = path_facts(str(tree / 'conf' / 'app.conf'))
    assert facts == dict(exists=True, type='file', owner=ME, group=MY_GROUP, mode='0640', uid=os.getuid(), gid=os.getgid(),
                         size=10, checksum=hashlib.sha1(b'listen 80\n').hexdigest())


def test_a_directory_has_no_checksum(tree):
    facts = path_facts(str(tree / 'conf'))
    assert facts['type'] == 'directory' and facts['mode'] == '0750' and 'checksum' not in facts


def test_links_are_not_followed_and_a_dangling_one_exists(tree):
    assert path_facts(str(tree / 'conf' / 'link'))['type'] == 'link'
    assert path_facts(str(tree / 'conf' / 'dangling'))['exists'] is True


def test_a_missing_path_only_says_so(tree):
    assert path_facts(str(tree / 'nothing')) == dict(exists=False)


def test_no_checksum_when_not_asked(tree):
    assert 'checksum' not in path_facts(str(tree / 'conf' / 'app.conf'), checksum=False)


def test_matching_compares_only_what_is_given(tree):
    facts = path_facts(str(tree / 'conf' / 'app.conf'))
    assert path_matching(facts)
    assert path_matching(facts, owner=ME, group=MY_GROUP, mode='0640', content='listen 80\n')
    assert path_matching(facts, mode=0o640)
    assert path_matching(facts, owner=str(os.getuid()), group=os.getgid())


@pytest.mark.parametrize('difference', [
    dict(content='listen 81\n'),
    dict(content='listen 80'),
    dict(mode='0644'),
    dict(owner='someone-else'),
    dict(group='some-other-group'),
    dict(type='directory'),
    dict(checksum='0' * 40),
])
def test_any_difference_does_not_match(tree, difference):
    assert not path_matching(path_facts(str(tree / 'conf' / 'app.conf')), **difference)


def test_a_missing_path_never_matches(tree):
    assert not path_matching(path_facts(str(tree / 'nothing')))


def test_content_means_a_regular_file(tree):
    assert not path_matching(path_facts(str(tree / 'conf')), content='')
    assert not path_matching(path_facts(str(tree / 'conf' / 'link')), content='listen 80\n')


def test_content_is_compared_as_utf8(tmp_path):
    (tmp_path / 'u').write_bytes('café\n'.encode('utf-8'))
    assert path_matching(path_facts(str(tmp_path / 'u')), content='café\n')


def test_bad_mode_and_bad_input_are_named():
    with pytest.raises(AnsibleFilterError, match='mode must be octal'):
        path_matching(dict(exists=True, type='file', mode='0644'), mode='rw-r--r--')
    with pytest.raises(AnsibleFilterError, match='expects one entry'):
        path_matching('/etc/passwd')
