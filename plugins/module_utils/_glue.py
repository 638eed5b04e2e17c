# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only place where Ansible meets the core: argument specs, session from params, errors to fail_json."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError, InputError
    from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
    from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
    import acme  # noqa: F401  pylint: disable=unused-import
    import cryptography  # noqa: F401  pylint: disable=unused-import
    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()
    CertfleetError = Exception  # noqa: N816 - lets ``except CertfleetError`` stay valid


def acme_argument_spec():
    """Options documented once in doc_fragments/acme.py."""
    return dict(
        acme_directory=dict(type="str", default="letsencrypt_staging"),
        acme_ca_bundle=dict(type="path"),
        account_key_path=dict(type="path"),
        account_key_content=dict(type="str", no_log=True),
        account_uri=dict(type="str"),
        account_email=dict(type="str"),
        acme_terms_agreed=dict(type="bool", default=False),
        acme_eab_kid=dict(type="str"),
        acme_eab_hmac_key=dict(type="str", no_log=True),
        acme_eab_alg=dict(type="str", default="HS256", choices=["HS256", "HS384", "HS512"]),
        acme_timeout=dict(type="float", default=300),
        acme_retries=dict(type="int", default=8),
    )


ACME_MUTUALLY_EXCLUSIVE = [("account_key_path", "account_key_content")]
ACME_REQUIRED_ONE_OF = [("account_key_path", "account_key_content")]


def require_libraries(module):
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("acme and cryptography (on the control node)"),
                         exception=IMPORT_ERROR)


def read_input(module, path_option, content_option):
    """Bytes of a <thing>_content option, or of the file named by <thing>_path; None when neither is set.

    The error names the option and the path, never the content (which may be a key).
    """
    params = module.params
    if params[content_option]:
        return params[content_option].encode()
    if not params[path_option]:
        return None
    try:
        with open(params[path_option], "rb") as handle:
            return handle.read()
    except (IOError, OSError) as error:
        module.fail_json(msg="%s %s cannot be read: %s" % (path_option, params[path_option], error.strerror))


def read_account_key(module):
    return read_input(module, "account_key_path", "account_key_content")


def open_session(module, account=True):
    """Directory + account for this call; the account lookup is skipped when account_uri is known."""
    params = module.params
    policy = RetryPolicy(attempts=params["acme_retries"], timeout=params["acme_timeout"])
    session = AcmeSession(params["acme_directory"], read_account_key(module), ca_bundle=params["acme_ca_bundle"],
                          policy=policy, carried=params.get("acme_session"))
    if account:
        if params["account_uri"]:
            session.use_account(params["account_uri"])
        else:
            session.ensure_account(contact=params["account_email"], terms_agreed=params["acme_terms_agreed"],
                                   eab_kid=params["acme_eab_kid"], eab_hmac_key=params["acme_eab_hmac_key"],
                                   eab_alg=params["acme_eab_alg"])
    return session


def fail_from(module, error, **extra):
    """One place where core exceptions become fail_json."""
    result = dict(extra)
    if hasattr(error, "to_result"):
        result.update(error.to_result())
    module.fail_json(msg=getattr(error, "msg", str(error)), **result)


__all__ = ["CertfleetError", "InputError", "acme_argument_spec", "open_session", "fail_from", "require_libraries",
           "read_input"]
