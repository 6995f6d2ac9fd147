"""``mentorflow setup-prefect``: prepare a Prefect server for the program, idempotently.

The work pool, the deployments of ``prefect.yaml``, the Secret blocks the flows read at run time, an email
notification block for the lead (SendGrid's Mail Send through Prefect's Custom Webhook block, so the open
server can send it) and the automations that tell the lead when a mentorflow run fails or crashes, or when
the approval form has waited too long. Running it again changes nothing that is already as wanted.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from config.settings import Settings
from domain.rules import ProgramRules
from mentorflow.blocks import SECRET_BLOCKS, read_secret

ROOT = Path(__file__).resolve().parent.parent
WORK_POOL = "mentorflow"
TAG = "mentorflow"  # every mentorflow flow run carries it (deployments' tags, and `mentorflow run`)

# The workers' settings (docs/production.md's worker.env, the README's worker line, tests/stack.py). A run that
# an event triggered waits for a worker's next look for due runs: half the interval on average, all of it at
# worst, on each triggered hop (match, invite). Prefect's default of 10 s could cost 20 s of the two minutes
# from answer to invitation; 2 s costs at most 4, for one small request every 2 s per worker to a server on the
# same machine. (Prefetch does not matter here: a triggered run is due at once; the default 10 s lets a
# scheduled run's process start before its time.)
WORKER_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "2"}
WORKER_COMMAND = " ".join(f"{k}={v}" for k, v in WORKER_ENV.items()) + " prefect worker start --pool " + WORK_POOL

NOTIFY_BLOCK = "mentorflow-lead-email"
AUTOMATION_FAILED = "mentorflow: a run failed or crashed"
AUTOMATION_WAITING = "mentorflow: the approval form is waiting"

# A run leaves Suspended for one of these; no such event within the threshold means the form still waits.
LEFT_SUSPENDED = {
    f"prefect.flow-run.{s}"
    for s in (
        "Resuming",
        "Scheduled",
        "Pending",
        "Running",
        "Completed",
        "Failed",
        "Crashed",
        "Cancelling",
        "Cancelled",
    )
}

TEXT = {
    "he": {
        "failed_subject": "mentorflow: הריצה {{ flow_run.name }} הסתיימה במצב {{ flow_run.state.name }}",
        "failed_body": "הריצה {{ flow_run.name }} ({{ flow.name }}) הסתיימה במצב {{ flow_run.state.name }}.\n"
        "הודעה: {{ flow_run.state.message }}\nלצפייה בריצה: {{ flow_run|ui_url }}",
        "waiting_subject": "mentorflow: טופס האישור מחכה לך",
        "waiting_body": "הריצה {{ flow_run.name }} מחכה לאישור שלך כבר יותר מ-{hours} שעות.\n"
        "לאישור: {{ flow_run|ui_url }} או `mentorflow approve`",
    },
    "en": {
        "failed_subject": "mentorflow: run {{ flow_run.name }} ended {{ flow_run.state.name }}",
        "failed_body": "The run {{ flow_run.name }} ({{ flow.name }}) ended {{ flow_run.state.name }}.\n"
        "Message: {{ flow_run.state.message }}\nThe run: {{ flow_run|ui_url }}",
        "waiting_subject": "mentorflow: the approval form is waiting for you",
        "waiting_body": "The run {{ flow_run.name }} has waited for your approval for more than {hours} hours.\n"
        "Approve: {{ flow_run|ui_url }} or `mentorflow approve`",
    },
}


@dataclass
class SetupReport:
    """What setup did, one line per object (never a secret's value)."""

    lines: list[str] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.lines.append(f"{what}: {outcome}")

    @property
    def changed(self) -> list[str]:
        return [line for line in self.lines if not line.endswith(("unchanged", "skipped"))]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def secret_values(settings: Settings, prompt: Callable[[str], str] | None = None) -> dict[str, str]:
    """The secrets to keep in blocks: from the settings (environment), else asked for when ``prompt`` is given."""
    values: dict[str, str] = {}
    if settings.sendgrid_api_key is not None:
        values["sendgrid_api_key"] = settings.sendgrid_api_key.get_secret_value()
    survey = settings.survey_token_secret.get_secret_value()
    if survey != "local-only-survey-secret":
        values["survey_token_secret"] = survey
    if settings.google_credentials_file is not None and settings.google_credentials_file.is_file():
        values["google_credentials"] = settings.google_credentials_file.read_text(encoding="utf-8")
    if prompt is not None:
        for name in SECRET_BLOCKS:
            if name not in values:
                answer = prompt(name)
                if answer:
                    values[name] = answer
    return values


def setup_prefect(
    settings: Settings,
    rules: ProgramRules,
    *,
    secrets: dict[str, str],
    approval_reminder_hours: float | None = None,
    deploy: bool = True,
) -> SetupReport:
    """Create or bring up to date everything the program needs on the configured Prefect server."""
    from prefect.client.orchestration import get_client

    report = SetupReport()
    with get_client(sync_client=True) as client:
        _ensure_work_pool(client, report)
    if deploy:
        _deploy_all(report)
    for name, value in secrets.items():
        _ensure_secret(SECRET_BLOCKS[name], value, report)
    block_id = _ensure_notification_block(settings, rules, secrets.get("sendgrid_api_key"), report)
    if block_id is None:
        return report
    hours = approval_reminder_hours or max(1.0, rules.matching.approval_timeout_hours / 2)
    language = rules.digest.language
    with get_client(sync_client=True) as client:
        for automation in desired_automations(block_id, hours, language):
            _ensure_automation(client, automation, report)
    return report


def _ensure_work_pool(client: Any, report: SetupReport) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_pool(WORK_POOL)
        report.add(f"work pool {WORK_POOL}", "unchanged")
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
        report.add(f"work pool {WORK_POOL}", "created (type process)")


def _deploy_all(report: SetupReport) -> None:
    """``prefect deploy --all`` from this clone: the workers run the flows from here (no pull step)."""
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError("prefect deploy --all failed:\n" + (done.stdout + done.stderr)[-3000:])
    report.add("deployments (prefect.yaml)", f"deployed from {ROOT}")


def _ensure_secret(block_name: str, value: str, report: SetupReport) -> None:
    from prefect.blocks.system import Secret

    current = read_secret(block_name)
    if current == value:
        report.add(f"secret block {block_name}", "unchanged")
        return
    Secret(value=value).save(block_name, overwrite=True)  # type: ignore[call-arg]
    report.add(f"secret block {block_name}", "created" if current is None else "updated")


def notification_block_fields(settings: Settings, rules: ProgramRules) -> dict[str, Any]:
    """SendGrid Mail Send as a Custom Webhook block: Prefect fills ``{{subject}}`` and ``{{body}}``."""
    return {
        "name": "mentorflow lead email",
        "url": settings.sendgrid_host.rstrip("/") + "/v3/mail/send",
        "method": "POST",
        "headers": {"Authorization": "Bearer {{sendgrid_api_key}}"},
        "json_data": {
            "personalizations": [{"to": [{"email": rules.lead_email}]}],
            "from": {"email": rules.from_email},
            "subject": "{{subject}}",
            "content": [{"type": "text/plain", "value": "{{body}}"}],
        },
        "timeout": settings.http_timeout_seconds,
    }


def _ensure_notification_block(
    settings: Settings, rules: ProgramRules, api_key: str | None, report: SetupReport
) -> Any:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    if not api_key:
        report.add(
            f"notification block {NOTIFY_BLOCK}",
            "skipped: no SendGrid key (MENTORFLOW_SENDGRID_API_KEY), so no automations can email the lead",
        )
        return None
    wanted = notification_block_fields(settings, rules)
    current: Any
    try:
        current = CustomWebhookNotificationBlock.load(NOTIFY_BLOCK)
    except ValueError:
        current = None
    if current is not None:
        same = all(getattr(current, k) == v for k, v in wanted.items())
        if same and current.secrets.get_secret_value() == {"sendgrid_api_key": api_key}:
            report.add(f"notification block {NOTIFY_BLOCK}", "unchanged")
            return current._block_document_id
    block = CustomWebhookNotificationBlock(**wanted, secrets={"sendgrid_api_key": api_key})
    block_id = block.save(NOTIFY_BLOCK, overwrite=True)
    report.add(f"notification block {NOTIFY_BLOCK}", f"{'updated' if current else 'created'} (to {rules.lead_email})")
    return block_id


def desired_automations(block_id: Any, approval_reminder_hours: float, language: str) -> list[Any]:
    """The lead's two automations: a mentorflow run failed or crashed; a run waits for approval too long."""
    from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification

    text = TEXT.get(language, TEXT["en"])
    ours = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"}
    failed = AutomationCore(
        name=AUTOMATION_FAILED,
        description="Emails the lead as soon as any mentorflow flow run ends Failed or Crashed.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=ours,  # type: ignore[arg-type]
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(block_document_id=block_id, subject=text["failed_subject"], body=text["failed_body"])
        ],
    )
    hours = f"{approval_reminder_hours:g}"
    waiting = AutomationCore(
        name=AUTOMATION_WAITING,
        description=f"Emails the lead when a mentorflow run has waited for approval (Suspended) over {hours} h.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=ours,  # type: ignore[arg-type]
            after={"prefect.flow-run.Suspended"},
            expect=LEFT_SUSPENDED,
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(hours=approval_reminder_hours),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=text["waiting_subject"],
                body=text["waiting_body"].replace("{hours}", hours),
            )
        ],
    )
    return [failed, waiting]


def _comparable(automation: Any) -> Any:
    """What setup decides about an automation, with sets (expect, after, for_each) in a fixed order."""

    def normal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return sorted(value)
        return [normal(v) for v in value] if isinstance(value, list) else value

    return normal(
        automation.model_dump(
            mode="json", include={"name", "description", "enabled", "trigger", "actions"}, exclude={"trigger": {"id"}}
        )
    )


def _ensure_automation(client: Any, wanted: Any, report: SetupReport) -> None:
    existing = client.read_automations_by_name(wanted.name)
    if len(existing) == 1 and _comparable(existing[0]) == _comparable(wanted):
        report.add(f"automation {wanted.name!r}", "unchanged")
        return
    for old in existing:  # a changed or duplicated automation is replaced by the one wanted
        client.delete_automation(old.id)
    client.create_automation(wanted)
    report.add(f"automation {wanted.name!r}", "updated" if existing else "created")
