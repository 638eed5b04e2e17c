# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception tree for the core (_acme and _tls both import it; neither imports the other for it). No Ansible import: the glue turns these into fail_json."""

from __future__ import annotations


class CertfleetError(Exception):
    """Base of every error the core raises on purpose. ``str()`` is the message for the operator."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def to_result(self):
        """Return a JSON-friendly dict (what the module returns on failure besides ``msg``)."""
        return dict(self.details)


class InputError(CertfleetError):
    """The operator gave something we refuse (bad CSR, bad name, bad option)."""


class AcmeProblem(CertfleetError):
    """The CA answered with an RFC 7807 problem document (RFC 8555 §6.7)."""

    def __init__(self, msg, problem_type=None, detail=None, subproblems=None, status=None, url=None):
        super().__init__(msg)
        self.problem_type = problem_type
        self.detail = detail
        self.subproblems = subproblems or []
        self.status = status
        self.url = url

    def to_result(self):
        return {
            "problem": {
                "type": self.problem_type,
                "detail": self.detail,
                "status": self.status,
                "subproblems": self.subproblems,
            },
            "url": self.url,
        }


class AcmeUnavailable(CertfleetError):
    """The CA could not be reached or kept failing within the retry budget."""


class AcmeTimeout(CertfleetError):
    """An order or authorization did not reach a final state before the deadline."""


class ValidationFailed(CertfleetError):
    """The CA tried the challenge and it failed; carries one entry per identifier."""
