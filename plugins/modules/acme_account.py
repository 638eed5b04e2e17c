#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acme_account
short_description: Find, create, roll over the key of, or deactivate an ACME account
version_added: 0.1.0
description:
  - Runs on the control node (C(delegate_to=localhost)) and speaks RFC 8555 through the C(acme) library.
  - With O(state=present), finds the account of the account key (RFC 8555 section 7.3.1,
    C(onlyReturnExisting)) and creates it when it has none and O(allow_creation=true), with External Account
    Binding when O(acme_eab_kid) and O(acme_eab_hmac_key) are given (required by some CAs, for example ZeroSSL,
    Google, SSL.com). An existing account is used as it is; its contact is not updated.
  - With O(new_account_key_path) or O(new_account_key_content), replaces the account's key by the new key
    (RFC 8555 section 7.3.5). The new key is tried first, so a second run, after the change, finds the account
    under the new key and changes nothing. Afterwards, use the new key as O(account_key_path) everywhere.
  - With O(state=absent), deactivates the account of the account key (RFC 8555 section 7.3.6).
    B(Deactivation is permanent); the CA then refuses every request signed by that key, including orders.
  - Check mode never contacts the CA, so it cannot know whether the account exists. It reads the keys and
    reports C(changed=true) only for what it would try, a key change to a different key or a deactivation;
    it reports C(changed=false) for O(state=present) without a new key, even when the account would be created.
author:
  - certfleet.tls developers (@certfleet)
options:
  state:
    description:
      - V(present) finds or creates the account, and rolls its key over when a new key is given.
      - V(absent) deactivates the account, if the key has one.
    type: str
    choices: [present, absent]
    default: present
  new_account_key_path:
    description:
      - Path on the control node of the new account private key (EC P-256/P-384 or RSA, PEM) to roll the
        account over to. Only with O(state=present).
    type: path
  new_account_key_content:
    description:
      - The new account private key itself (from a vault or an AWX credential). Never logged.
        Only with O(state=present).
    type: str
  allow_creation:
    description:
      - Create the account when the account key has none. With V(false), a missing account is an error.
      - Creating an account needs O(acme_terms_agreed=true) when the CA has terms of service.
    type: bool
    default: true
extends_documentation_fragment:
  - certfleet.tls.acme
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description:
      - Reads the keys and never contacts the CA. Reports a change only for a key change to a different key
        or a deactivation, which it cannot confirm without the CA.
notes:
  - O(account_uri), when given, is checked against the account the CA finds for the key; the call fails when
    they differ.
  - A key can belong to one account only. When the new key already has an account of its own while the current
    key still has another one, the call fails instead of guessing which account is wanted.
requirements:
  - acme >= 2.11 and cryptography on the control node
"""

EXAMPLES = r"""
- name: Make sure the account exists
  certfleet.tls.acme_account:
    acme_directory: letsencrypt_staging
    account_key_path: ~/.acme/account.key
    account_email: ops@example.org
    acme_terms_agreed: true
  delegate_to: localhost
  run_once: true
  register: account

- name: Create an account at a CA that requires External Account Binding
  certfleet.tls.acme_account:
    acme_directory: zerossl
    account_key_path: ~/.acme/zerossl.key
    account_email: ops@example.org
    acme_terms_agreed: true
    acme_eab_kid: "{{ vault_zerossl_eab_kid }}"
    acme_eab_hmac_key: "{{ vault_zerossl_eab_hmac_key }}"
  delegate_to: localhost
  run_once: true

- name: Roll the account over to a new key (then point account_key_path at the new key)
  certfleet.tls.acme_account:
    acme_directory: letsencrypt
    account_key_path: ~/.acme/account.key
    new_account_key_path: ~/.acme/account-2026.key
    allow_creation: false
  delegate_to: localhost
  run_once: true

- name: Deactivate the account of a retired key (permanent)
  certfleet.tls.acme_account:
    acme_directory: letsencrypt
    account_key_path: ~/.acme/retired.key
    state: absent
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
account_uri:
  description: URL of the account (its key ID for every later request). Pass it to M(certfleet.tls.acme_order).
  returned: when the account exists, unless check mode
  type: str
  sample: https://acme-staging-v02.api.letsencrypt.org/acme/acct/123456
created:
  description: Whether the account was created by this call.
  returned: always
  type: bool
rolled_over:
  description: Whether the account's key was replaced by the new key (in check mode, whether it would be tried).
  returned: always
  type: bool
deactivated:
  description: Whether the account was deactivated by this call (in check mode, whether it would be tried).
  returned: always
  type: bool
account:
  description: The account as the CA describes it.
  returned: O(state=present), unless check mode
  type: dict
  contains:
    status:
      description: Account status (RFC 8555 section 7.1.2), V(valid) for a usable account.
      type: str
    contact:
      description: Contact URLs registered with the account.
      type: list
      elements: str
    orders:
      description: URL of the account's order list, when the CA gives one.
      type: str
acme_requests:
  description: HTTP requests sent to the CA by this call (directory, nonce and account requests).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._acme import account as acme_account
except ImportError:
    acme_account = None


def read_new_account_key(module):
    return _glue.read_input(module, "new_account_key_path", "new_account_key_content")


def check_expected_uri(module, session, uri):
    """O(account_uri), when given, must be the account the CA finds for the key: nothing is changed otherwise."""
    expected = module.params["account_uri"]
    if expected and uri and expected != uri:
        raise _glue.InputError("account_uri %s is not the account of this key at %s, which is %s"
                               % (expected, session.directory_url, uri))


def present(module, session, new_key_pem):
    """Find (or create) the account; roll it over to ``new_key_pem`` unless that already happened."""
    p = module.params
    result = dict(created=False, rolled_over=False, deactivated=False)
    if new_key_pem is not None:
        # The new key first: after a successful rollover the account answers to it (idempotence).
        under_new = acme_account.find_account(session, new_key_pem)
        if under_new and under_new["status"] != "valid":
            raise _glue.InputError("the new account key belongs to a deactivated account at %s; choose another key"
                                   % session.directory_url)
        if under_new:
            under_current = acme_account.find_account(session)
            if under_current and under_current["uri"] != under_new["uri"]:
                raise _glue.InputError(
                    "account_key and the new account key belong to two different accounts (%s and %s) at %s; "
                    "a key change cannot merge accounts (RFC 8555 section 7.3.5)"
                    % (under_current["uri"], under_new["uri"], session.directory_url))
            check_expected_uri(module, session, under_new["uri"])
            acme_account.use_key(session, new_key_pem, under_new["uri"])
            return result
    found = acme_account.find_account(session)
    if found and found["status"] != "valid":
        raise _glue.InputError("the ACME account of account_key at %s is %s; deactivation is permanent "
                               "(RFC 8555 section 7.3.6): use a new account key" % (session.directory_url, found["status"]))
    if not found:
        if not p["allow_creation"]:
            raise _glue.InputError("account_key has no ACME account at %s and allow_creation=false"
                                   % session.directory_url)
        dummy, result["created"] = session.ensure_account(
            contact=p["account_email"], terms_agreed=p["acme_terms_agreed"], eab_kid=p["acme_eab_kid"],
            eab_hmac_key=p["acme_eab_hmac_key"], eab_alg=p["acme_eab_alg"])
    check_expected_uri(module, session, session.account_uri)
    if new_key_pem is not None:
        acme_account.rollover_account_key(session, new_key_pem)
        result["rolled_over"] = True
    return result


def manage_account(call):
    """The module's work: local checks on both keys, then the account requests (see run_module for errors)."""
    p = call.params
    new_key_pem = read_new_account_key(call.module)
    if p["state"] == "absent" and new_key_pem is not None:
        raise _glue.InputError("new_account_key_path/new_account_key_content roll an account over (state=present); "
                               "they have no meaning with state=absent")
    # all local checks before the first request
    current_jwk = acme_account.key_for(_glue.read_account_key(call.module), what="account key")[0]
    rollover = False
    if new_key_pem is not None:
        rollover = acme_account.key_for(new_key_pem, what="new account key")[0].thumbprint() != \
            current_jwk.thumbprint()
    if not rollover:
        new_key_pem = None  # the new key is the current key: nothing to roll over
    if call.check_mode:
        return dict(changed=rollover or p["state"] == "absent", created=False, rolled_over=rollover,
                    deactivated=p["state"] == "absent", acme_requests=0)
    session = call.open_session(account=False)
    if p["state"] == "absent":
        found = acme_account.find_account(session)
        out = dict(created=False, rolled_over=False, deactivated=False)
        if found and found["uri"]:
            check_expected_uri(call.module, session, found["uri"])
            out["account_uri"] = found["uri"]
        if found and found["status"] == "valid":
            out["deactivated"] = acme_account.deactivate_account(session)
    else:
        out = present(call.module, session, new_key_pem)
        out["account_uri"] = session.account_uri
        out["account"] = {k: v for k, v in acme_account.account_info(session).items() if k != "uri"}
    out["changed"] = out["created"] or out["rolled_over"] or out["deactivated"]
    out["acme_requests"] = session.request_count
    return out


def main():
    argument_spec = _glue.acme_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        new_account_key_path=dict(type="path"),
        new_account_key_content=dict(type="str", no_log=True),
        allow_creation=dict(type="bool", default=True),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=_glue.ACME_MUTUALLY_EXCLUSIVE + [("new_account_key_path", "new_account_key_content")],
        required_one_of=_glue.ACME_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    _glue.run_module(module, manage_account)


if __name__ == "__main__":
    main()
