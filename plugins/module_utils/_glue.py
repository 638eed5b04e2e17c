# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only place where Ansible meets the core: argument specs, session from params, errors to fail_json.

Every controller module's ``main()`` builds its AnsibleModule and hands its work to ``run_module``: the one
``try`` that turns a core exception (CertfleetError) into ``fail_json`` through ``fail_from``, and anything
unexpected into ``fail_json`` with the traceback in ``exception``. The work itself returns its result and
never calls exit_json or fail_json.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

# errors.py needs nothing but Python: importable even when acme or cryptography is missing.
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError, InputError

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
    from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
    import acme  # noqa: F401  pylint: disable=unused-import
    import cryptography  # noqa: F401  pylint: disable=unused-import
    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


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

    The error (InputError) names the option and the path, never the content (which may be a key).
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
        raise InputError("%s %s cannot be read: %s" % (path_option, params[path_option], error.strerror))


def read_account_key(module):
    return read_input(module, "account_key_path", "account_key_content")


def open_session(module, account=True, key_pem=None):
    """Directory (and account, unless ``account=False``) for this call.

    ``key_pem`` signs instead of the account key (acme_revoke with the certificate's own key). The account
    lookup is skipped when account_uri is known.
    """
    params = module.params
    policy = RetryPolicy(attempts=params["acme_retries"], timeout=params["acme_timeout"])
    session = AcmeSession(params["acme_directory"], key_pem if key_pem is not None else read_account_key(module),
                          ca_bundle=params["acme_ca_bundle"], policy=policy, carried=params.get("acme_session"))
    if account:
        use_account(module, session)
    return session


def use_account(module, session):
    """The account of this call: account_uri as given (no request), else found or created by its key."""
    params = module.params
    if params["account_uri"]:
        return session.use_account(params["account_uri"])
    return session.ensure_account(contact=params["account_email"], terms_agreed=params["acme_terms_agreed"],
                                  eab_kid=params["acme_eab_kid"], eab_hmac_key=params["acme_eab_hmac_key"],
                                  eab_alg=params["acme_eab_alg"])[0]


def fail_from(module, error, **extra):
    """One place where core exceptions become fail_json."""
    result = dict(extra)
    if hasattr(error, "to_result"):
        result.update(error.to_result())
    module.fail_json(msg=getattr(error, "msg", str(error)), **result)


class ModuleCall:
    """What a module's work shares with the funnel: its params, its ACME session, facts for a failure."""

    def __init__(self, module, acme_requests):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.session = None
        self.acme_requests = acme_requests
        self.on_failure = {}  # returned with any failure, e.g. the serial acme_revoke was asked to revoke

    def open_session(self, account=True, key_pem=None):
        self.session = open_session(self.module, account=account, key_pem=key_pem)
        return self.session

    def failure_result(self):
        result = dict(self.on_failure)
        if self.acme_requests:
            result["acme_requests"] = self.session.request_count if self.session is not None else 0
        return result


def run_module(module, work, acme_requests=True, requires_acme=True, import_error=None):
    """The one ``try`` of a controller module's main().

    ``work(call)`` (call: ModuleCall) returns the module's result; with ``failed=True`` and ``msg`` in it the
    task fails with that result (an order or target that failed), otherwise it exits with it.
    CertfleetError (InputError for local faults, the ACME errors for the CA's) fails through fail_from;
    anything else is a bug, reported as one, with its traceback in ``exception``.
    ``acme_requests``: add the session's request count to a failure. ``import_error``: a library the module
    needs beyond acme (already checked when ``requires_acme``) failed to import.
    """
    if requires_acme:
        require_libraries(module)
    if import_error:
        module.fail_json(msg=missing_required_lib("cryptography (on the control node)"), exception=import_error)
    call = ModuleCall(module, acme_requests)
    try:
        result = work(call)
    except CertfleetError as error:
        fail_from(module, error, **call.failure_result())
    except Exception as error:  # pylint: disable=broad-except
        module.fail_json(msg="unexpected %s: %s (a certfleet.tls bug: please report it with the traceback in "
                             "'exception')" % (type(error).__name__, str(error)[:500]),
                         exception=traceback.format_exc(), **call.failure_result())
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


__all__ = ["CertfleetError", "InputError", "acme_argument_spec", "open_session", "use_account", "fail_from",
           "require_libraries", "read_input", "run_module", "ModuleCall"]
