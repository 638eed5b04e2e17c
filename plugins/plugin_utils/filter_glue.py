# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one door from the plain-Python steps of plugins/plugin_utils to Jinja2 filters.

The steps raise ValueError (or a subclass: RequestError, ReportError, DaneError) with a message that names the input
at fault; a filter must raise AnsibleFilterError for Ansible to report that message as the task's failure. Each
filter file keeps its own DOCUMENTATION, EXAMPLES, RETURN and FilterModule (ansible-doc reads them per file) and
wraps its step here instead of repeating the same try/except.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError


def as_filter(function=None, errors=ValueError):
    """``function`` as a filter: the same name, docstring and arguments; an exception of ``errors`` (ValueError by
    default, or the narrower class the step documents) is raised again as AnsibleFilterError with the same message.

    Any other exception keeps its type and traceback: it is a bug, not an input to fix, and Ansible shows it as one.
    ``as_filter(step)`` wraps a step whose arguments are the filter's; ``@as_filter(errors=...)`` decorates a filter
    that narrows a step's arguments to the documented options.
    """
    if function is None:
        return functools.partial(as_filter, errors=errors)
    kinds = errors if isinstance(errors, tuple) else (errors,)
    if not kinds or not all(isinstance(kind, type) and issubclass(kind, ValueError) for kind in kinds):
        raise TypeError("as_filter(%s): errors must be ValueError, a subclass of it, or a tuple of them, not %r"
                        % (getattr(function, "__name__", function), errors))

    @functools.wraps(function)
    def step_filter(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except errors as error:
            # Only the message: it names the input and the fix. The original stays on the chain (__context__).
            raise AnsibleFilterError(str(error))

    return step_filter
