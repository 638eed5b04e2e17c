"""The one door to the acme library's private API: fails when a new acme release changes what we rely on.

meta/ee-requirements.txt pins acme to the range these tests ran with; widen it only after they pass.
"""

import inspect
import os
import re

import pytest
from acme import client as acme_client

from fakeacme import FakeAcme
from ansible_collections.certfleet.tls.plugins.module_utils._acme import acme_internals
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import ResilientNetwork, RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

ACME_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "plugins", "module_utils", "_acme")


@pytest.mark.parametrize("owner,member,params", acme_internals.PRIVATE_API,
                         ids=["%s.%s" % (o, m) for o, m, p in acme_internals.PRIVATE_API])
def test_private_member_exists_with_the_parameters_we_pass(owner, member, params):
    attribute = getattr(getattr(acme_client, owner), member, None)
    assert callable(attribute), "acme.client.%s.%s is gone" % (owner, member)
    names = tuple(inspect.signature(attribute).parameters)
    assert names[:len(params)] == params, "acme.client.%s.%s now takes %s" % (owner, member, names)


def test_private_attributes_exist_with_their_type():
    net = acme_client.ClientNetwork(key=None)
    for name, kind in acme_internals.PRIVATE_ATTRIBUTES:
        assert isinstance(getattr(net, name, None), kind), "ClientNetwork().%s is no longer a %s" % (name, kind)


def test_the_library_routes_its_requests_and_nonces_through_the_hooks():
    """get() and the nonce fetch go through _send_request and _add_nonce, which we re-route: if the library
    stopped calling them, requests would go uncounted and unbounded by acme_timeout."""
    with FakeAcme() as fake:
        net = ResilientNetwork(None, None, policy=RetryPolicy(timeout=10))
        net.get(fake.directory_url)
        assert net.request_count == 1
        nonce = net.take_nonce(fake.directory_url, fake.url + "/nonce")
        assert nonce and net.request_count == 2 and fake.count("HEAD /nonce") == 1


def test_a_signed_post_works_end_to_end_through_the_door():
    with FakeAcme() as fake:
        sess = AcmeSession(fake.directory_url, keys.private_key_to_pem(keys.generate_private_key()),
                           policy=RetryPolicy(timeout=10))
        uri, created = sess.ensure_account(terms_agreed=True)
        assert created and sess.post(uri).json()["status"] == "valid"


def test_no_other_file_touches_a_private_member_of_an_acme_object():
    """``x._name`` on the library's objects (client, net, messages, the network subclass) only in acme_internals."""
    pattern = re.compile(r"\b(?:client|net|session\.net|self\.net|acme_client\.\w+|ClientNetwork|super\(\))"
                         r"\._[a-z]\w*")
    offenders = []
    for name in sorted(os.listdir(ACME_UTILS)):
        if not name.endswith(".py") or name == "acme_internals.py":
            continue
        with open(os.path.join(ACME_UTILS, name), encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                # network.py subclasses the library's ClientNetwork: its own names stay public too, so that
                # they never collide with a private attribute a new release adds.
                if pattern.search(line) or (name == "network.py" and re.search(r"self\._[a-z]", line)):
                    offenders.append("%s:%d: %s" % (name, number, line.strip()))
    assert not offenders, offenders
