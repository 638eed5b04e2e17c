"""One error funnel (issue 7 point 8): every controller module's main() hands its work to _glue.run_module,
which turns core errors into fail_json in one place. And the one list of untrusted CAs, used by tls_verify."""

import datetime
import os
import re
import socket
import ssl
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certutil import make_ca, make_leaf, pem
from ansible_collections.certfleet.tls.plugins.module_utils import _glue
from ansible_collections.certfleet.tls.plugins.module_utils._acme.directory import (
    DIRECTORY_ALIASES, UNTRUSTED_ALIASES, is_untrusted)
from ansible_collections.certfleet.tls.plugins.module_utils.errors import AcmeProblem, InputError

UTC = datetime.timezone.utc
MODULES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "plugins", "modules")
FUNNELLED = ("acme_order", "acme_account", "acme_revoke", "tls_verify")


class Exited(Exception):
    def __init__(self, failed, result):
        super().__init__(result)
        self.failed, self.result = failed, result


class FakeModule:
    """What run_module uses of an AnsibleModule: params, check_mode, exit_json and fail_json."""

    def __init__(self, params=None, check_mode=False):
        self.params = params or {}
        self.check_mode = check_mode

    def exit_json(self, **result):
        raise Exited(False, result)

    def fail_json(self, **result):
        raise Exited(True, result)


def run(work, **kwargs):
    with pytest.raises(Exited) as info:
        _glue.run_module(FakeModule(), work, requires_acme=False, **kwargs)
    return info.value


# -- the funnel -------------------------------------------------------------------------------------------
def test_result_exits_and_failed_result_fails_with_it():
    done = run(lambda call: dict(changed=True, value=1))
    assert not done.failed and done.result == {"changed": True, "value": 1}
    failed = run(lambda call: dict(changed=True, failed=True, msg="1 of 2 orders failed", orders=[]))
    assert failed.failed and failed.result == {"changed": True, "msg": "1 of 2 orders failed", "orders": []}


def test_core_errors_become_fail_json_with_their_details_and_the_request_count():
    def input_fault(call):
        call.on_failure["serial"] = "abc"
        raise InputError("csr_path /x cannot be read: No such file or directory")
    failed = run(input_fault)
    assert failed.failed and failed.result == {"msg": "csr_path /x cannot be read: No such file or directory",
                                               "serial": "abc", "acme_requests": 0}

    def ca_fault(call):
        raise AcmeProblem("refused", problem_type="urn:ietf:params:acme:error:rejectedIdentifier", status=400,
                          url="https://ca/order")
    failed = run(ca_fault)
    assert failed.result["problem"]["type"].endswith("rejectedIdentifier") and failed.result["url"] == "https://ca/order"
    assert "exception" not in failed.result
    assert "acme_requests" not in run(input_fault, acme_requests=False).result


def test_unexpected_error_is_a_clear_failure_with_the_traceback():
    def bug(call):
        return {}["certificate"]
    failed = run(bug)
    assert failed.failed and failed.result["msg"].startswith("unexpected KeyError: 'certificate'")
    assert "certfleet.tls bug" in failed.result["msg"]
    assert "Traceback" in failed.result["exception"] and "return {}[\"certificate\"]" in failed.result["exception"]


def test_missing_library_fails_before_the_work():
    failed = run(lambda call: pytest.fail("work ran"), import_error="Traceback ... No module named 'cryptography'")
    assert failed.failed and "cryptography" in failed.result["msg"] and "No module named" in failed.result["exception"]


@pytest.mark.parametrize("name", FUNNELLED)
def test_module_main_has_no_try_and_no_exit_of_its_own(name):
    with open(os.path.join(MODULES, name + ".py"), encoding="utf-8") as handle:
        code = handle.read().split('"""\n\nfrom ansible', 1)[1]  # after DOCUMENTATION/EXAMPLES/RETURN
    assert len(re.findall(r"^\s*try:", code, re.M)) == 1, "only the optional-import try is allowed"
    assert "fail_json" not in code and "exit_json" not in code and "fail_from" not in code
    assert "_glue.run_module(module, " in code


def test_unreadable_input_is_an_input_error_naming_option_and_path(module_runner, tmp_path):
    missing = str(tmp_path / "nope.pem")
    result = module_runner("acme_revoke", dict(certificate_path=missing, account_key_content="x"))
    assert result["failed"] and result["msg"].startswith("certificate_path %s cannot be read" % missing), result
    assert "exception" not in result and result["acme_requests"] == 0
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    result = module_runner("acme_revoke", dict(certificate_path=str(garbage), account_key_content="x"))
    assert result["failed"] and result["msg"] == "certificate_path %s is not a PEM certificate" % garbage, result


def test_bad_account_key_fails_through_the_funnel(module_runner):
    bad_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    result = module_runner("acme_account", dict(account_key_content=bad_key))
    assert result["failed"] and "account key is not a readable PEM private key" in result["msg"], result
    assert "c2VjcmV0" not in str(result) and result["acme_requests"] == 0


def test_orders_item_without_csr_is_an_input_error(module_runner):
    result = module_runner("acme_order", dict(account_key_content="x", orders=[{"name": "www"}]))
    assert result["failed"] and result["msg"] == "orders[0] (www) has no csr and no domains", result


# -- the one list of untrusted CAs, and tls_verify's automatic chain check --------------------------------------
def test_untrusted_cas_are_the_staging_aliases_and_their_urls():
    assert UNTRUSTED_ALIASES == {"letsencrypt_staging", "buypass_test", "google_test"}
    for alias in UNTRUSTED_ALIASES:
        assert is_untrusted(alias) and is_untrusted(DIRECTORY_ALIASES[alias])
    for trusted in ("letsencrypt", "buypass", "zerossl", "google", DIRECTORY_ALIASES["letsencrypt"],
                    "https://localhost:14000/dir", None, ""):
        assert not is_untrusted(trusted)


def serve_untrusted(tmp_path, name):
    """A TLS server whose chain ends at a root nobody trusts (like Let's Encrypt staging)."""
    ca = make_ca("Untrusted Staging Root")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_leaf(ca, [name], datetime.datetime.now(UTC) - datetime.timedelta(hours=1), 30, key=key)
    (tmp_path / "chain.pem").write_text(pem(cert) + pem(ca[1]))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "root.pem").write_text(pem(ca[1]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"))
    listener = socket.create_server(("127.0.0.1", 0))

    def loop():
        while True:
            try:
                conn, dummy = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
    threading.Thread(target=loop, daemon=True).start()
    return listener


def test_tls_verify_decides_chain_verification_from_acme_directory(module_runner, tmp_path):
    listener = serve_untrusted(tmp_path, "www.example.org")
    target = {"name": "web1", "address": "127.0.0.1", "port": listener.getsockname()[1],
              "server_name": "www.example.org"}
    common = dict(targets=[target], wait=0, timeout=3)
    try:
        staging = module_runner("tls_verify", dict(common, acme_directory="letsencrypt_staging"))
        assert not staging.get("failed") and staging["verify_chain"] is False, staging
        assert staging["results"][0]["verified"] and staging["results"][0]["chain_verified"] is False
        by_url = module_runner("tls_verify", dict(common, acme_directory=DIRECTORY_ALIASES["buypass_test"]))
        assert by_url["verify_chain"] is False and not by_url.get("failed")
        for trusted in (dict(acme_directory="letsencrypt"), {}):  # a trusted CA, or none named: verified
            result = module_runner("tls_verify", dict(common, **trusted))
            assert result["failed"] and result["verify_chain"] is True and result["failed_names"] == ["web1"]
        explicit = module_runner("tls_verify", dict(common, acme_directory="letsencrypt_staging", verify_chain=True))
        assert explicit["failed"] and explicit["verify_chain"] is True
        bundled = module_runner("tls_verify", dict(common, acme_directory="letsencrypt_staging",
                                                   ca_bundle=str(tmp_path / "root.pem")))
        assert not bundled.get("failed") and bundled["verify_chain"] is True
        assert bundled["results"][0]["chain_verified"] is True
        typo = module_runner("tls_verify", dict(common, acme_directory="letsencrypt_stagin"))
        assert typo["failed"] and "acme_directory 'letsencrypt_stagin' is neither a known alias" in typo["msg"]
        assert "acme_requests" not in typo
    finally:
        listener.close()


def test_tls_verify_target_errors_go_through_the_funnel(module_runner):
    result = module_runner("tls_verify", dict(targets=[{"address": "127.0.0.1"}]))
    assert result["failed"] and result["msg"] == "targets[0] needs address and server_name, got ['address']"
