"""Failure notification: a readable summary in the task log and the run history, and an optional webhook.

The webhook URL comes from the Airflow connection ``observatoire_webhook`` (its host, or the ``url`` key of
its extras) or from ``OBSERVATOIRE_WEBHOOK_URL``; it is never required. The payload is JSON (Slack, Mattermost
and Teams incoming webhooks accept a ``text`` field). A webhook that fails is logged, never raised: a
notification must not turn a failure into another failure.

Whatever is sent has every URL in it redacted (:func:`extract.http.redact_text`: an exception's text may quote a
URL with its credentials), and the webhook's own URL (a secret in itself: Slack's path is its token) is never
logged.
"""

from __future__ import annotations

import json
import logging

import requests

from extract.http import redact_data, redact_text

log = logging.getLogger("observatoire")


def failure_summary(*, dag_id: str, task_id: str, run_id: str, map_index: int | None, error: BaseException | None,
                    observatoire_run: str | None) -> str:
    where = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index not in (None, -1) else "")
    lines = [f"Observatoire — échec de {where} (run Airflow {run_id})"]
    if observatoire_run:
        lines.append(f"run observatoire : {observatoire_run} — détails : `observatoire status`")
    if error is not None:
        text = (redact_text(str(error)) or "").strip().splitlines()
        lines.append(f"erreur : {error.__class__.__name__}: {text[0] if text else ''}")
        lines += [f"  {t}" for t in text[1:12]]
    return redact_text("\n".join(lines))


def post_webhook(url: str | None, text: str, payload: dict, *, timeout: float = 10.0) -> bool:
    if not url:
        return False
    body = json.dumps(redact_data({"text": text, **payload}), default=str)
    try:
        resp = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)
        if resp.status_code >= 400:
            log.warning("failure webhook answered HTTP %s", resp.status_code)
            return False
        return True
    except requests.RequestException as exc:
        log.warning("failure webhook unreachable: %s", exc.__class__.__name__)
        return False


def webhook_url_from_settings() -> str | None:
    """The settings' ``OBSERVATOIRE_WEBHOOK_URL`` (None when unset)."""
    from observatoire.config import current_settings

    return current_settings().webhook_url
