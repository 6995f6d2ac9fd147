"""Standing consent (invariant 4): whom the program may still write to about their match.

Pure: the tasks ask before every email or invite about a match. A mentor paused in the roster (``active: false``)
or gone from it, or known only by a booking link, gets nothing; a mentee whose request was canceled (a later answer
withdrew consent, or they canceled) gets nothing. Both come back as soon as the roster or a new answer says so.
"""

from __future__ import annotations

from domain.models import Mentor, MentoringRequest, RequestStatus, Role


def mentor_consents(mentor: Mentor | None) -> bool:
    """An active mentor with an email: paused, removed and booking-link-only mentors are not written to."""
    return mentor is not None and mentor.active and mentor.email is not None


def mentee_consents(request: MentoringRequest | None) -> bool:
    """A mentee whose request was not canceled (a withdrawal cancels it)."""
    return request is not None and request.status is not RequestStatus.CANCELED


def may_contact(role: Role, request: MentoringRequest | None, mentor: Mentor | None) -> bool:
    """Whether this side of a match may be written to now."""
    return mentor_consents(mentor) if role is Role.MENTOR else mentee_consents(request)
