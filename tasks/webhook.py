"""SendGrid's Event Webhook (optional): a verified call's unsubscribes, spam reports and bounces stop the
newsletter for those addresses from the very next send (kept by opaque person key, like an unsubscribe link)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel

from domain.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRefused,
    newsletter_stops,
    parse_events,
    verify_signature,
)
from mentorflow.bootstrap import Services
from tasks.logs import log


class WebhookResult(BaseModel):
    accepted: bool
    events: int = 0
    stopped: int = 0
    reason: str = ""


def record_provider_events(svc: Services, body: bytes, headers: Mapping[str, str], now: datetime) -> WebhookResult:
    """Verify one webhook call and record its newsletter stops; a refused call changes nothing."""
    key = svc.settings.sendgrid_webhook_public_key
    if not key:
        return WebhookResult(accepted=False, reason="no MENTORFLOW_SENDGRID_WEBHOOK_PUBLIC_KEY configured")
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        verify_signature(
            key, body, lower.get(SIGNATURE_HEADER.lower(), ""), lower.get(TIMESTAMP_HEADER.lower(), ""), now
        )
        events = parse_events(body)
    except WebhookRefused as refused:
        log("webhook call refused")
        return WebhookResult(accepted=False, reason=str(refused))
    stops = newsletter_stops(events, svc.settings.survey_token_secret.get_secret_value())
    with svc.store.unit_of_work() as uow:
        new = uow.newsletter.unsubscribe_many(stops, "provider", now)
    log("webhook events recorded", events=len(events), stopped=new)
    return WebhookResult(accepted=True, events=len(events), stopped=new)
