"""The ``batch/v1`` kinds: Job and CronJob.

Validation reproduces ``pkg/apis/batch/validation``: pod templates only allow
``restartPolicy`` ``OnFailure`` or ``Never``; counts are non-negative; ``Indexed`` completion
needs ``completions``; ``backoffLimitPerIndex`` needs ``Indexed``; a manual selector is
required and must select the template labels (a generated one is checked the same way). On
update the selector, completion mode and pod failure policy are immutable, and so is the
template unless the Job is suspended. A CronJob name is at most 52 characters (its Jobs add
an 11-character suffix), the schedule is a 5-field cron expression or a ``@descriptor``
without ``TZ=`` (use ``timeZone``), and ``timeZone`` names a known zone.

Defaults are ``pkg/apis/batch/v1/defaults.go`` and the Job strategy: ``parallelism`` and
``completions`` 1 (completions only when both are unset), ``backoffLimit: 6``,
``completionMode: NonIndexed``, ``suspend: false``, ``podReplacementPolicy``; the Job takes
its template's labels when it has none; when the Job's uid is known the selector is generated
(``batch.kubernetes.io/controller-uid``) and the template gets the ``controller-uid`` and
``job-name`` labels. CronJob: ``concurrencyPolicy: Allow``, ``suspend: false``, history limits
3 and 1.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from shipyard.store.validation.containers import NON_NEGATIVE
from shipyard.store.validation.formats import dns1123_subdomain, max_len_message
from shipyard.store.validation.meta import (
    LABEL_SELECTOR,
    check_selector_matches_template,
    object_meta,
    object_schema,
    template_meta,
)
from shipyard.store.validation.pod_defaults import default_pod_template, dict_field, set_default
from shipyard.store.validation.pods import pod_spec, pod_template
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    Obj,
    Str,
    Validator,
    get_dict,
    get_list,
    get_str,
    immutable,
    invalid,
    required,
    validator,
)

__all__ = [
    "JOB_SPEC",
    "cron_schedule",
    "default_cron_job",
    "default_job",
    "validate_cron_job",
    "validate_job",
]

STATUS = AnyValue(object_only=True)
INT32_MAX = 2**31 - 1
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")

# --- Job ------------------------------------------------------------------------------------


def _job_rules(spec: dict[str, Any], path: str, errs: Errors) -> None:
    indexed = spec.get("completionMode") == "Indexed"
    if indexed and spec.get("completions") is None:
        errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
    per_index = spec.get("backoffLimitPerIndex")
    if per_index is not None and not indexed:
        errs.append(
            invalid(f"{path}.backoffLimitPerIndex", per_index, "requires indexed completion mode")
        )
    manual = spec.get("manualSelector") is True
    check_selector_matches_template(spec, path, errs, kind="job", required_selector=manual)


_POD_FAILURE_RULE = Obj(
    {
        "action": Enum("FailJob", "FailIndex", "Ignore", "Count"),
        "onExitCodes": Obj(
            {
                "containerName": Str(),
                "operator": Enum("In", "NotIn"),
                "values": ListOf(Int()),
            },
            required=("operator", "values"),
        ),
        "onPodConditions": ListOf(
            Obj({"status": Str(), "type": Str()}, required=("type",)),
        ),
    },
    required=("action",),
)

JOB_SPEC = Obj(
    {
        "activeDeadlineSeconds": NON_NEGATIVE,
        "backoffLimit": NON_NEGATIVE,
        "backoffLimitPerIndex": NON_NEGATIVE,
        "completionMode": Enum("NonIndexed", "Indexed"),
        "completions": NON_NEGATIVE,
        "managedBy": Str(),
        "manualSelector": Bool(),
        "maxFailedIndexes": NON_NEGATIVE,
        "parallelism": NON_NEGATIVE,
        "podFailurePolicy": Obj({"rules": ListOf(_POD_FAILURE_RULE)}, required=("rules",)),
        "podReplacementPolicy": Enum("TerminatingOrFailed", "Failed"),
        "selector": LABEL_SELECTOR,
        "successPolicy": Obj(
            {"rules": ListOf(Obj({"succeededCount": NON_NEGATIVE, "succeededIndexes": Str()}))},
            required=("rules",),
        ),
        "suspend": Bool(),
        "template": pod_template(pod_spec(("OnFailure", "Never"))),
        "ttlSecondsAfterFinished": NON_NEGATIVE,
    },
    required=("template",),
    rules=(_job_rules,),
)

JOB = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {"spec": JOB_SPEC, "status": STATUS},
    required=("spec",),
)


def _default_job_spec(spec: dict[str, Any]) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    set_default(spec, "parallelism", 1)
    per_index = spec.get("backoffLimitPerIndex") is not None
    set_default(spec, "backoffLimit", INT32_MAX if per_index else 6)
    set_default(spec, "completionMode", "NonIndexed")
    set_default(spec, "suspend", False)
    failure_policy = spec.get("podFailurePolicy")
    replacement = "Failed" if failure_policy is not None else "TerminatingOrFailed"
    set_default(spec, "podReplacementPolicy", replacement)
    for rule in get_list(failure_policy, "rules") if isinstance(failure_policy, dict) else []:
        for condition in get_list(rule, "onPodConditions") if isinstance(rule, dict) else []:
            if isinstance(condition, dict):
                set_default(condition, "status", "True")


def _generate_selector(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    metadata = get_dict(obj, "metadata")
    name, uid = get_str(metadata, "name"), get_str(metadata, "uid")
    template = dict_field(spec, "template")
    meta = dict_field(template, "metadata") if template is not None else None
    labels = dict_field(meta, "labels") if meta is not None else None
    if labels is None:
        return
    for key in JOB_NAME_LABELS:
        if name:
            set_default(labels, key, name)
    if not uid:
        return  # the selector is generated once the store has assigned the uid
    for key in CONTROLLER_UID_LABELS:
        set_default(labels, key, uid)
    selector = dict_field(spec, "selector")
    match_labels = dict_field(selector, "matchLabels") if selector is not None else None
    if match_labels is not None:
        set_default(match_labels, CONTROLLER_UID_LABELS[0], uid)


def default_job(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    _default_job_spec(spec)
    if spec.get("manualSelector") is not True:
        _generate_selector(obj, spec)
    # After generation, so a Job shows its controller-uid and job-name labels, as in
    # Kubernetes, and defaulting a stored Job again changes nothing.
    metadata = dict_field(obj, "metadata")
    template_labels = get_dict(get_dict(get_dict(spec, "template"), "metadata"), "labels")
    if metadata is not None and template_labels and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)
    default_pod_template(spec.get("template"))


def _job_template_update(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    new_spec, old_spec = get_dict(new, "spec"), get_dict(old, "spec")
    if new_spec.get("suspend") is True or old_spec.get("suspend") is True:
        return  # a suspended Job's template may change (scheduling directives, mostly)
    if new_spec.get("template") != old_spec.get("template"):
        errs.append(invalid("spec.template", new_spec.get("template"), "field is immutable"))


validate_job: Validator = validator(
    JOB,
    immutable("spec", "selector"),
    immutable("spec", "completionMode"),
    immutable("spec", "podFailurePolicy"),
    immutable("spec", "backoffLimitPerIndex"),
    _job_template_update,
)


# --- CronJob --------------------------------------------------------------------------------

_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, minimum, maximum, names) for minute, hour, day of month, month, day of week.
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_EVERY_RE = re.compile(r"^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _cron_number(text: str, names: tuple[str, ...], minimum: int) -> int | None:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + minimum
    return int(text) if text.isdigit() else None


def _cron_range(part: str, field: tuple[str, int, int, tuple[str, ...]]) -> str | None:
    label, low, high, names = field
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"invalid step {step!r} in {label}"
    if base in ("*", "?"):
        return None
    first, _, last = base.partition("-")
    for text in (first, last) if last else (first,):
        number = _cron_number(text, names, low)
        if number is None:
            return f"invalid {label} {text!r}"
        if not low <= number <= high:
            return f"{label} {number} out of range [{low}-{high}]"
    return None


@lru_cache(maxsize=1024)
def cron_schedule(schedule: str) -> Sequence[str]:
    """Problems with a cron schedule as the CronJob controller parses it (robfig/cron)."""
    if "TZ=" in schedule:
        return ("cannot use TZ or CRON_TZ in schedule, use timeZone field instead",)
    text = schedule.strip()
    if text in _DESCRIPTORS or _EVERY_RE.match(text):
        return ()
    if text.startswith("@"):
        return (f"unrecognized descriptor: {text}",)
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return (f"Expected exactly 5 fields, found {len(fields)}: {text}",)
    for value, field in zip(fields, _CRON_FIELDS, strict=True):
        for part in value.split(","):
            problem = _cron_range(part, field)
            if problem:
                return (problem,)
    return ()


@lru_cache(maxsize=256)
def _time_zone(name: str) -> Sequence[str]:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if not zoneinfo.available_timezones():
            return ()  # no time zone database on this machine: nothing to check against
        return (f"unknown time zone {name}",)
    return ()


def _cron_job_name(name: str) -> Sequence[str]:
    problems = list(dns1123_subdomain(name))
    if len(name) > 52:
        problems.append(max_len_message(52))
    return problems


CRON_JOB = object_schema(
    object_meta(_cron_job_name, namespaced=True),
    {
        "spec": Obj(
            {
                "concurrencyPolicy": Enum("Allow", "Forbid", "Replace"),
                "failedJobsHistoryLimit": NON_NEGATIVE,
                "jobTemplate": Obj(
                    {"metadata": template_meta(), "spec": JOB_SPEC}, required=("spec",)
                ),
                "schedule": Str(cron_schedule),
                "startingDeadlineSeconds": NON_NEGATIVE,
                "successfulJobsHistoryLimit": NON_NEGATIVE,
                "suspend": Bool(),
                "timeZone": Str(_time_zone),
            },
            required=("schedule", "jobTemplate"),
        ),
        "status": STATUS,
    },
    required=("spec",),
)


def default_cron_job(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    set_default(spec, "concurrencyPolicy", "Allow")
    set_default(spec, "suspend", False)
    set_default(spec, "successfulJobsHistoryLimit", 3)
    set_default(spec, "failedJobsHistoryLimit", 1)
    job_spec = get_dict(get_dict(spec, "jobTemplate"), "spec")
    default_pod_template(job_spec.get("template"))


validate_cron_job: Validator = validator(CRON_JOB)
