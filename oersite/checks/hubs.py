"""The hubs the launch links point at (``oersite check --live``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from oersite.checks.findings import NOTE, WARNING, Finding
from oersite.checks.launch_links import LaunchLink, launch_links
from oersite.config import Course


def check_hubs(course: Course, site: Path, *, timeout: float = 10) -> list[Finding]:
    """Every hub the launch links point at answers, and is set up to open what they open.

    A hub tells anonymous visitors only its version (``/hub/api``), so its clone
    folder and interface are read from the ``hub-settings.json`` its
    ``jupyterhub_config.py`` reads (``oersite.hub.settings``): the deployable
    bundle's (``SOURCE/hub``) and the local hubs' (``oersite hub serve``'s state folder).
    """
    from oersite.hub.settings import SETTINGS_FILE, SettingsFileError, read_settings

    links_by_hub: dict[str, list[LaunchLink]] = {}
    for link in launch_links(site):
        links_by_hub.setdefault(link.hub_url, []).append(link)
    configured: dict[str, list[tuple[str, object]]] = {}
    findings = []
    for folder in (course.root / "hub", course.root / course.settings.hub.state_folder):
        path = folder / SETTINGS_FILE
        try:
            present = path.is_file()
        except OSError:  # the local hubs' state folder is private to whoever ran them (root)
            present = False
        if not present:
            continue
        try:
            settings = read_settings(path)
        except SettingsFileError as problem:
            findings.append(Finding(course.relative(path), "hub settings", str(problem).removeprefix(f"{path}: ")))
            continue
        shown = course.relative(path)
        for hub_kind, public_url in (("persistent", settings.persistent_url), ("ephemeral", settings.ephemeral_url)):
            configured.setdefault(public_url, []).append((shown, settings.interface_of(hub_kind), settings))
    for hub_url, links in sorted(links_by_hub.items()):
        page, what = links[0].page, f"hub {hub_url}"
        problem = hub_problem(hub_url, timeout=timeout)
        if problem:
            findings.append(Finding(page, what, problem))
        else:
            findings += pool_findings(page, what, hub_url, timeout=timeout)
        if hub_url not in configured:
            findings.append(
                Finding(
                    page,
                    what,
                    f"no {SETTINGS_FILE} here names this hub, so its clone folder and interface cannot be "
                    "compared with the links; run oersite hub config",
                    WARNING,
                )
            )
        for shown, interface, settings in configured.get(hub_url, []):
            for link in links:
                drift = [
                    f"{name} {wanted!r} where the links have {seen!r}"
                    for name, wanted, seen in (
                        ("clone folder", settings.clone_folder, link.clone_folder),
                        ("interface", interface, link.interface),
                    )
                    if wanted != seen
                ]
                if drift:
                    findings.append(
                        Finding(
                            link.page,
                            what,
                            f"set up by {shown} with {'; '.join(drift)}: students would find the course "
                            "in two places; run oersite hub config (and redeploy), or oersite build",
                        )
                    )
                    break
    return findings


def pool_findings(page: str, what: str, hub_url: str, *, timeout: float = 10) -> list[Finding]:
    """The warm pool of a Try-now hub, as its service reports it (none: the hub has no pool)."""
    from oersite.hub.pool import STATUS_PATH

    try:
        with urllib.request.urlopen(f"{hub_url}{STATUS_PATH}", timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
        pool = {key: int(answer[key]) for key in ("size", "ready", "starting", "handed_out", "found_empty")}
    except (OSError, ValueError, KeyError, TypeError):  # no pool there, or something else answers at that path
        return []
    said = (
        f"warm pool: {pool['ready']} of {pool['size']} servers ready, {pool['starting']} starting; "
        f"{pool['handed_out']} handed out, {pool['found_empty']} visitors found it empty"
    )
    if pool["size"] and not pool["ready"] and not pool["starting"]:
        return [Finding(page, what, f"{said}: the pool cannot refill; see the hub's log", WARNING)]
    return [Finding(page, what, said, NOTE)]


def hub_problem(hub_url: str, *, timeout: float = 10) -> str | None:
    """Why the hub at ``hub_url`` cannot take students now, or None when it answers."""
    api = f"{hub_url}/hub/api"
    try:
        with urllib.request.urlopen(api, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return f"{api} answered {exc.code} {exc.reason}; is JupyterHub running at that URL?"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{api} does not answer ({reason}); start the hub (oersite hub) or fix the hub URL"
    except ValueError:
        return f"{api} did not answer as JupyterHub does (no JSON); fix the hub URL"
    if not isinstance(answer, dict) or "version" not in answer:
        return f"{api} did not answer as JupyterHub does (no version); fix the hub URL"
    return None
