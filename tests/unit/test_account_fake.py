"""ACME accounts against the local fake CA: External Account Binding, key rollover, deactivation, and the
acme_account module run as a real process.

The fake (tests/fakeacme.py) verifies what our code builds itself: the EAB HMAC (with the key the CA would
hand out) and the key change's inner JWS (with the new key it carries).
"""

import json
import os
import sys

import pytest

from fakeacme import FakeAcme, jwk_thumbprint
from ansible_collections.certfleet.tls.plugins.module_utils._acme import account, orders
from ansible_collections.certfleet.tls.plugins.module_utils.errors import AcmeProblem, InputError
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

VENV_PYTHON = "/tmp/certfleet/venv/bin/python"
PYTHON = VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable


def new_key_pem(key_type="ec256"):
    return keys.private_key_to_pem(keys.generate_private_key(key_type)).decode()


def open_session(fake, key_pem):
    return AcmeSession(fake.directory_url, key_pem, policy=RetryPolicy(timeout=20, sleep=lambda s: None))


def create_account(fake, key_pem, **eab):
    sess = open_session(fake, key_pem)
    sess.ensure_account(contact="ops@example.org", terms_agreed=True, **eab)
    return sess


def public_jwk(key_pem):
    return account.key_for(key_pem)[0].public_key().to_partial_json()


def pem_body_lines(pem):
    """The base64 lines of a PEM: what would show if a key leaked, escaped or not."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


# -- External Account Binding (RFC 8555 §7.3.4) ------------------------------------------------
def test_eab_required_and_missing_is_an_input_error_naming_the_options():
    with FakeAcme(eab_required=True) as fake:
        sess = open_session(fake, new_key_pem())
        with pytest.raises(InputError, match="acme_eab_kid"):
            sess.ensure_account(terms_agreed=True)
        # one lookup (onlyReturnExisting) at most; nothing is created without EAB
        assert fake.accounts == {} and fake.count("POST /acct") <= 1


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_eab_given_creates_the_account_and_the_ca_verified_the_hmac(alg):
    with FakeAcme(eab_required=True) as fake:
        key_pem = new_key_pem()
        sess = open_session(fake, key_pem)
        uri, created = sess.ensure_account(terms_agreed=True, eab_kid=fake.eab_kid,
                                           eab_hmac_key=fake.eab_hmac_key, eab_alg=alg)
        assert created and uri == sess.account_uri and fake.eab_verified == [fake.eab_kid]
        assert fake.accounts[uri]["thumbprint"] == jwk_thumbprint(public_jwk(key_pem))


def test_wrong_eab_hmac_key_is_refused_and_the_message_carries_the_cas_problem():
    with FakeAcme(eab_required=True) as fake:
        sess = open_session(fake, new_key_pem())
        wrong = "A" * 43  # a well-formed base64url key that is not the CA's
        with pytest.raises(AcmeProblem) as info:
            sess.ensure_account(terms_agreed=True, eab_kid=fake.eab_kid, eab_hmac_key=wrong)
        assert info.value.problem_type == "urn:ietf:params:acme:error:unauthorized"
        assert "EAB HMAC does not verify with the key of %s" % fake.eab_kid in info.value.msg
        assert fake.accounts == {} and fake.eab_verified == []


def test_unknown_eab_kid_is_refused():
    with FakeAcme(eab_required=True) as fake:
        sess = open_session(fake, new_key_pem())
        with pytest.raises(AcmeProblem, match="unknown EAB key identifier 'not-mine'"):
            sess.ensure_account(terms_agreed=True, eab_kid="not-mine", eab_hmac_key=fake.eab_hmac_key)


def test_existing_account_is_found_without_eab_credentials():
    """onlyReturnExisting needs no EAB (RFC 8555 §7.3.1): later runs need not carry the HMAC key."""
    with FakeAcme(eab_required=True) as fake:
        key_pem = new_key_pem()
        uri = create_account(fake, key_pem, eab_kid=fake.eab_kid, eab_hmac_key=fake.eab_hmac_key).account_uri
        sess = open_session(fake, key_pem)
        assert account.find_account(sess) == {"uri": uri, "status": "valid"} and sess.account_uri == uri


# -- lookup and account info ---------------------------------------------------------------------
def test_find_account_never_creates_one():
    with FakeAcme() as fake:
        sess = open_session(fake, new_key_pem())
        assert account.find_account(sess) is None and fake.accounts == {}


def test_account_info_reads_status_and_contact_by_post_as_get():
    with FakeAcme() as fake:
        sess = create_account(fake, new_key_pem())
        info = account.account_info(sess)
        assert info["status"] == "valid" and info["contact"] == ["mailto:ops@example.org"]
        assert info["uri"] == sess.account_uri


# -- key change (RFC 8555 §7.3.5) -------------------------------------------------------------------
def test_rollover_moves_the_account_to_the_new_key():
    with FakeAcme() as fake:
        old_pem, new_pem = new_key_pem(), new_key_pem("ec384")
        sess = create_account(fake, old_pem)
        uri = sess.account_uri
        assert account.rollover_account_key(sess, new_pem) == uri
        # The fake checked the inner JWS: signed by the new key, url = keyChange, oldKey = current key.
        assert fake.key_changes == [(uri, jwk_thumbprint(public_jwk(old_pem)), jwk_thumbprint(public_jwk(new_pem)))]
        assert account.find_account(open_session(fake, old_pem)) is None
        assert account.find_account(open_session(fake, new_pem)) == {"uri": uri, "status": "valid"}
        # The same session now signs with the new key and keeps working.
        assert sess.jwk.thumbprint() == account.key_for(new_pem)[0].thumbprint()
        assert account.account_info(sess)["status"] == "valid"
        key = keys.generate_private_key()
        created = orders.create_order(sess, dict(name="www.example.org",
                                                 csr_pem=keys.make_csr(key, ["www.example.org"]).decode()))
        assert created["order_url"]


def test_rollover_is_idempotent():
    with FakeAcme() as fake:
        old_pem, new_pem = new_key_pem(), new_key_pem("rsa2048")
        sess = create_account(fake, old_pem)
        uri = account.rollover_account_key(sess, new_pem)
        before = fake.count()
        assert account.rollover_account_key(sess, new_pem) == uri  # the session's key already is the new key
        assert fake.count() == before and len(fake.key_changes) == 1


def test_rollover_of_an_unknown_account_is_looked_up_first():
    with FakeAcme() as fake:
        old_pem, new_pem = new_key_pem(), new_key_pem()
        uri = create_account(fake, old_pem).account_uri
        fresh = open_session(fake, old_pem)  # a new process: account URL not known yet
        assert account.rollover_account_key(fresh, new_pem) == uri


def test_rollover_to_a_key_in_use_is_a_clear_409():
    with FakeAcme() as fake:
        first_pem, second_pem = new_key_pem(), new_key_pem()
        sess = create_account(fake, first_pem)
        other = create_account(fake, second_pem).account_uri
        with pytest.raises(AcmeProblem) as info:
            account.rollover_account_key(sess, second_pem)
        assert info.value.status == 409 and "already the key of account %s" % other in info.value.msg
        assert "RFC 8555 §7.3.5" in info.value.msg and fake.key_changes == []
        assert sess.jwk.thumbprint() == account.key_for(first_pem)[0].thumbprint()  # still the old key


def test_rollover_without_keychange_in_the_directory():
    with FakeAcme() as fake:
        sess = create_account(fake, new_key_pem())
        del sess.directory_json["keyChange"]
        with pytest.raises(AcmeProblem, match="offers no keyChange"):
            account.rollover_account_key(sess, new_key_pem())


def test_bad_new_key_is_an_input_error_that_does_not_show_the_key():
    with FakeAcme() as fake:
        sess = create_account(fake, new_key_pem())
        with pytest.raises(InputError, match="new account key is not a readable PEM private key") as info:
            account.rollover_account_key(sess, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
        assert "c2VjcmV0" not in info.value.msg


# -- deactivation (RFC 8555 §7.3.6) -----------------------------------------------------------------
def test_deactivate_then_the_key_is_refused():
    with FakeAcme() as fake:
        key_pem = new_key_pem()
        sess = create_account(fake, key_pem)
        assert account.deactivate_account(sess) is True
        assert fake.accounts[sess.account_uri]["status"] == "deactivated"
        assert account.deactivate_account(sess) is False  # already: the CA refuses the key, we say so
        assert account.find_account(open_session(fake, key_pem)) == {"uri": None, "status": "deactivated"}
        with pytest.raises(InputError, match="deactivated"):
            account.account_info(open_session(fake, key_pem))


# -- the module, as a real process -------------------------------------------------------------------
def module_args(fake, key_pem, **extra):
    args = dict(acme_directory=fake.directory_url, account_key_content=key_pem, account_email="ops@example.org",
                acme_terms_agreed=True, acme_timeout=20)
    args.update(extra)
    return args


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        for fragment in (pem_body_lines(secret) if "-----BEGIN" in secret else [secret]):
            assert fragment not in text


def test_module_present_is_idempotent_and_check_mode_sends_nothing(module_runner, tmp_path):
    with FakeAcme() as fake:
        key_pem = new_key_pem()
        key_file = tmp_path / "account.key"
        key_file.write_text(key_pem)
        args = module_args(fake, None, account_key_path=str(key_file))
        del args["account_key_content"]
        checked = module_runner("acme_account", args, check_mode=True, python=PYTHON)
        assert checked["changed"] is False and checked["acme_requests"] == 0 and fake.count() == 0
        first = module_runner("acme_account", args, python=PYTHON)
        assert first["changed"] is True and first["created"] is True, first
        assert first["account"] == {"status": "valid", "contact": ["mailto:ops@example.org"],
                                    "orders": first["account_uri"] + "/orders"}
        second = module_runner("acme_account", args, python=PYTHON)
        assert second["changed"] is False and second["created"] is False, second
        assert second["account_uri"] == first["account_uri"]
        # dir, nonce, lookup, account info: no newAccount with EAB or terms for an existing account
        assert second["acme_requests"] == 4
        for result in (checked, first, second):
            assert_no_secret(result, key_pem)


def test_module_eab_and_no_secret_in_output(module_runner):
    with FakeAcme(eab_required=True) as fake:
        key_pem = new_key_pem()
        missing = module_runner("acme_account", module_args(fake, key_pem), python=PYTHON)
        assert missing["failed"] and "acme_eab_kid" in missing["msg"] and not fake.accounts
        wrong = module_runner("acme_account", module_args(fake, key_pem, acme_eab_kid=fake.eab_kid,
                                                          acme_eab_hmac_key="B" * 43), python=PYTHON)
        assert wrong["failed"] and "EAB HMAC does not verify" in wrong["msg"]
        assert wrong["problem"]["type"] == "urn:ietf:params:acme:error:unauthorized"
        args = module_args(fake, key_pem, acme_eab_kid=fake.eab_kid, acme_eab_hmac_key=fake.eab_hmac_key)
        created = module_runner("acme_account", args, python=PYTHON)
        assert created["changed"] and created["created"] and fake.eab_verified == [fake.eab_kid]
        again = module_runner("acme_account", args, python=PYTHON)
        assert again["changed"] is False and len(fake.eab_verified) == 1
        for result in (missing, wrong, created, again):
            assert_no_secret(result, key_pem, fake.eab_hmac_key)


def test_module_rollover_is_idempotent_and_hides_both_keys(module_runner):
    with FakeAcme() as fake:
        old_pem, new_pem = new_key_pem(), new_key_pem()
        args = module_args(fake, old_pem, new_account_key_content=new_pem)
        checked = module_runner("acme_account", args, check_mode=True, python=PYTHON)
        assert checked["changed"] is True and checked["rolled_over"] is True and fake.count() == 0
        first = module_runner("acme_account", args, python=PYTHON)
        assert first["changed"] and first["created"] and first["rolled_over"], first
        second = module_runner("acme_account", args, python=PYTHON)
        assert second["changed"] is False and second["rolled_over"] is False, second
        assert second["account_uri"] == first["account_uri"] and len(fake.key_changes) == 1
        # Afterwards the new key is the account key: nothing to roll over, not even in check mode.
        settled = module_args(fake, new_pem, new_account_key_content=new_pem)
        assert module_runner("acme_account", settled, check_mode=True, python=PYTHON)["changed"] is False
        assert module_runner("acme_account", settled, python=PYTHON)["changed"] is False
        for result in (checked, first, second):
            assert_no_secret(result, old_pem, new_pem)


def test_module_refuses_to_merge_two_accounts(module_runner):
    with FakeAcme() as fake:
        old_pem, new_pem = new_key_pem(), new_key_pem()
        create_account(fake, old_pem)
        create_account(fake, new_pem)
        result = module_runner("acme_account", module_args(fake, old_pem, new_account_key_content=new_pem),
                               python=PYTHON)
        assert result["failed"] and "two different accounts" in result["msg"] and not fake.key_changes


def test_module_allow_creation_false(module_runner):
    with FakeAcme() as fake:
        result = module_runner("acme_account", module_args(fake, new_key_pem(), allow_creation=False),
                               python=PYTHON)
        assert result["failed"] and "allow_creation=false" in result["msg"] and not fake.accounts


def test_module_absent_deactivates_once(module_runner):
    with FakeAcme() as fake:
        key_pem = new_key_pem()
        uri = create_account(fake, key_pem).account_uri
        args = module_args(fake, key_pem, state="absent")
        checked = module_runner("acme_account", args, check_mode=True, python=PYTHON)
        assert checked["changed"] is True and fake.accounts[uri]["status"] == "valid"
        first = module_runner("acme_account", args, python=PYTHON)
        assert first["changed"] and first["deactivated"] and first["account_uri"] == uri
        assert fake.accounts[uri]["status"] == "deactivated"
        second = module_runner("acme_account", args, python=PYTHON)
        assert second["changed"] is False and second["deactivated"] is False, second
        present = module_runner("acme_account", module_args(fake, key_pem), python=PYTHON)
        assert present["failed"] and "deactivation is permanent" in present["msg"]


def test_module_account_uri_must_match(module_runner):
    with FakeAcme() as fake:
        key_pem = new_key_pem()
        create_account(fake, key_pem)
        result = module_runner("acme_account", module_args(fake, key_pem, account_uri=fake.url + "/acct/99",
                                                           state="absent"), python=PYTHON)
        assert result["failed"] and "is not the account of this key" in result["msg"]
        assert all(acct["status"] == "valid" for acct in fake.accounts.values())
