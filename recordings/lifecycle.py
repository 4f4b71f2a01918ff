"""The only writer of recording state.

Two kinds of input change a RecordingTask:
- staff intents (start, pause, resume, stop, layout and whiteboard updates): they move the *desired*
  state with a conditional update, write an AuditEvent and a VendorCommand (the outbox) in the same
  transaction, and enqueue the command after commit. `execute_command` later carries it to the vendor.
- vendor observations (a query answer, a callback, a command's response): `apply_observation` moves
  the *observed* state along TRANSITIONS under a short row lock, never backwards, never out of a
  terminal state, and stores segments idempotently.

No vendor call ever happens while a row lock is held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Cast, Least, Power, Random
from django.utils import timezone
from django.utils.translation import gettext as _

from recordings.choices import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    ActorType,
    ArchiveStatus,
    CommandStatus,
    DeliveryOutcome,
    DesiredState,
    FinishReason,
    ObservedState,
)
from recordings.models import AuditEvent, CallbackDelivery, RecordingTask, Segment, VendorCall, VendorCommand
from recordings.prepared_insert import PreparedInsert
from recordings.row_updates import update_rows
from recordings.storage import object_url
from recordings.vendors.base import (
    EventKind,
    SegmentInfo,
    StartSpec,
    StorageSpec,
    TaskRef,
    VendorError,
    VendorEvent,
    VendorStatus,
)

# At module level, so that celery's parent process imports the adapters and httpx before it forks:
# a prefork worker's pool processes share them, rather than each importing them on its first poll.
from recordings.vendors.registry import adapter_class, build_adapter, cached_app_config

log = logging.getLogger(__name__)

S = ObservedState

# Which observed state may follow which. `finished` and `failed` are terminal: nothing follows them.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.STARTING: frozenset({S.RECORDING, S.PAUSED, S.STOPPING, S.PROCESSING, S.FINISHED, S.FAILED}),
    S.RECORDING: frozenset({S.PAUSED, S.STOPPING, S.PROCESSING, S.FINISHED, S.FAILED}),
    S.PAUSED: frozenset({S.RECORDING, S.STOPPING, S.PROCESSING, S.FINISHED, S.FAILED}),
    S.STOPPING: frozenset({S.PROCESSING, S.FINISHED, S.FAILED}),
    S.PROCESSING: frozenset({S.FINISHED, S.FAILED}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
}

# Retry policy for vendor commands (used by recordings/tasks.py).
MAX_COMMAND_ATTEMPTS = 6
# Failures of the way there, not refusals: worth another attempt whatever the adapter judged (a
# garbled 200 usually comes from a gateway in between). A start retried after one of these asks
# the vendor first (recover_start).
TRANSIENT_KINDS = frozenset({"timeout", "connect", "server", "rate_limited", "malformed"})


def command_claim() -> timedelta:
    """Longer than any one vendor call can take (connect + read timeouts), so a claim outlives its run."""
    return timedelta(seconds=settings.RECDESK_COMMAND_CLAIM_SECONDS)


# The reconciler polls an active task this often, backing off while nothing changes.
POLL_MIN_SECONDS = 2.0
POLL_MAX_SECONDS = 60.0
# A task in a transient state this long is "stuck" and shown under "needs attention".
STUCK_AFTER = {
    S.STARTING: timedelta(minutes=2),
    S.STOPPING: timedelta(minutes=10),
    S.PROCESSING: timedelta(hours=2),
}


class Refused(Exception):
    """An intent that cannot be accepted now; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Actor:
    type: str
    user: object | None = None
    ip: str | None = None

    @classmethod
    def staff(cls, user, ip=None) -> Actor:
        return cls(ActorType.USER, user if getattr(user, "is_authenticated", False) else None, ip)


RECONCILER = Actor(ActorType.RECONCILER)
CALLBACK = Actor(ActorType.CALLBACK)
SYSTEM = Actor(ActorType.SYSTEM)


def _audit(
    actor: Actor, action: str, task: RecordingTask, before: dict, after: dict, detail: str = ""
) -> None:
    AuditEvent.objects.create(
        actor_type=actor.type,
        actor=actor.user,
        action=action,
        task=task,
        app_id=task.app_id,
        before=before,
        after=after,
        detail=detail[:500],
        ip=actor.ip,
    )


def _enqueue_on_commit(command: VendorCommand) -> None:
    from recordings import tasks

    transaction.on_commit(lambda: tasks.dispatch_command(command.pk))


def _capabilities(task: RecordingTask):
    return adapter_class(task.app.vendor).capabilities


# ------------------------------------------------------------------ staff intents


def start(*, app, room, mode: str, options: dict, storage=None, user=None, ip=None) -> RecordingTask:
    """Accept a start intent: a new task (desired recording, observed starting) and its start command."""
    if not app.enabled:
        raise Refused(_("This vendor app is disabled; an admin can enable it."))
    if room.app_id != app.pk:
        raise Refused(_("This room belongs to another vendor app."))
    capabilities = adapter_class(app.vendor).capabilities
    if mode not in capabilities.modes:
        raise Refused(_("%(vendor)s cannot record in this mode.") % {"vendor": app.get_vendor_display()})
    actor = Actor.staff(user, ip)
    with transaction.atomic():
        busy = (
            RecordingTask.objects.select_for_update()
            .filter(room=room, observed_state__in=[S.STARTING, S.RECORDING, S.PAUSED])
            .exclude(desired_state=DesiredState.STOPPED)
            .first()
        )
        if busy is not None:
            raise Refused(
                _("This room is already being recorded (recording #%(pk)s, started by %(user)s).")
                % {"pk": busy.pk, "user": _who(busy.requested_by)}
            )
        task = RecordingTask.objects.create(
            app=app,
            room=room,
            mode=mode,
            options=options,
            storage=storage or app.default_storage,
            desired_state=DesiredState.RECORDING,
            observed_state=S.STARTING,
            requested_by=actor.user,
            desired_by=actor.user,
            next_poll_at=timezone.now() + timedelta(seconds=POLL_MIN_SECONDS),
        )
        command = VendorCommand.objects.create(task=task, action="start", requested_by=actor.user)
        _audit(actor, "start", task, {}, {"desired": "recording", "mode": mode})
        _enqueue_on_commit(command)
    return task


def _who(user) -> str:
    if user is None:
        return _("the system")
    return user.get_full_name() or user.get_username()


# action -> (desired states it may come from, desired state it leads to)
INTENTS = {
    "pause": (frozenset({DesiredState.RECORDING}), DesiredState.PAUSED),
    "resume": (frozenset({DesiredState.PAUSED}), DesiredState.RECORDING),
    "stop": (frozenset({DesiredState.RECORDING, DesiredState.PAUSED}), DesiredState.STOPPED),
}


def available_actions(task: RecordingTask) -> dict[str, tuple[bool, str]]:
    """For each action, whether it is possible now and, if not, why (for the buttons)."""
    caps = _capabilities(task)
    result: dict[str, tuple[bool, str]] = {}
    terminal = task.observed_state in TERMINAL_STATES
    for action in ("pause", "resume"):
        if not caps.can_pause(task.mode):
            result[action] = (
                False,
                _("%(vendor)s cannot pause or resume this kind of recording.")
                % {"vendor": task.app.get_vendor_display()},
            )
        else:
            result[action] = _intent_check(task, action, terminal)
    result["stop"] = _intent_check(task, "stop", terminal)
    for action, allowed in (
        ("update_layout", caps.can_update_layout(task.mode)),
        ("update_whiteboard", caps.can_update_whiteboard(task.mode)),
    ):
        if not allowed:
            result[action] = (
                False,
                _("Not supported by %(vendor)s in this mode.") % {"vendor": task.app.get_vendor_display()},
            )
        elif task.observed_state != S.RECORDING or task.desired_state != DesiredState.RECORDING:
            result[action] = (False, _("Only while recording."))
        else:
            result[action] = (True, "")
    return result


def _intent_check(task: RecordingTask, action: str, terminal: bool) -> tuple[bool, str]:
    sources, target = INTENTS[action]
    if terminal:
        return False, _("The recording has ended.")
    if task.desired_state == target:
        return False, _already(task, target)
    if task.desired_state not in sources:
        if task.desired_state == DesiredState.STOPPED:
            return False, _("Already stopping, by %(user)s.") % {"user": _who(task.desired_by)}
        return False, _("Not possible in the current state.")
    if action == "pause" and task.observed_state != S.RECORDING:
        return False, _("Only a recording that has started can be paused.")
    return True, ""


def _already(task: RecordingTask, target: str) -> str:
    who = {"user": _who(task.desired_by)}
    confirmed = {
        DesiredState.PAUSED: task.observed_state == S.PAUSED,
        DesiredState.RECORDING: task.observed_state == S.RECORDING,
        DesiredState.STOPPED: task.observed_state in TERMINAL_STATES,
    }[target]
    if target == DesiredState.PAUSED:
        return (_("Already paused, by %(user)s.") if confirmed else _("Already pausing, by %(user)s.")) % who
    if target == DesiredState.RECORDING:
        return _("Already recording.") if confirmed else _("Already resuming, by %(user)s.") % who
    return _("Already stopping, by %(user)s.") % who


def request(task: RecordingTask, action: str, *, user=None, ip=None) -> RecordingTask:
    """Accept pause, resume or stop: one conditional update, one audit row, one command."""
    if action not in INTENTS:
        raise Refused(_("Unknown action."))
    if action in ("pause", "resume") and not _capabilities(task).can_pause(task.mode):
        raise Refused(
            _("%(vendor)s cannot pause or resume this kind of recording.")
            % {"vendor": task.app.get_vendor_display()}
        )
    target = INTENTS[action][1]
    return _change_desired(task, action, target, Actor.staff(user, ip), payload={})


def update_layout(task: RecordingTask, layout: dict, *, user=None, ip=None) -> RecordingTask:
    return _side_command(task, "update_layout", {"layout": layout}, Actor.staff(user, ip))


def update_whiteboard(task: RecordingTask, whiteboard: dict, *, user=None, ip=None) -> RecordingTask:
    return _side_command(task, "update_whiteboard", {"whiteboard": whiteboard}, Actor.staff(user, ip))


def _side_command(task: RecordingTask, action: str, payload: dict, actor: Actor) -> RecordingTask:
    allowed, reason = available_actions(task)[action]
    if not allowed:
        raise Refused(reason)
    with transaction.atomic():
        command = VendorCommand.objects.create(
            task=task, action=action, payload=payload, requested_by=actor.user
        )
        _audit(actor, action, task, {}, payload)
        _enqueue_on_commit(command)
    return task


def _change_desired(
    task: RecordingTask, action: str, target: str, actor: Actor, payload: dict
) -> RecordingTask:
    """Compare-and-set on `version`: of two simultaneous clicks exactly one wins; the other is told why."""
    for _attempt in range(3):
        task.refresh_from_db()
        allowed, reason = _intent_check(task, action, task.observed_state in TERMINAL_STATES)
        if not allowed:
            raise Refused(reason)
        with transaction.atomic():
            won = RecordingTask.objects.filter(pk=task.pk, version=task.version).update(
                desired_state=target, desired_by=actor.user, version=F("version") + 1
            )
            if not won:
                continue
            command = VendorCommand.objects.create(
                task=task, action=action, payload=payload, requested_by=actor.user
            )
            _audit(actor, action, task, {"desired": task.desired_state}, {"desired": target})
            _enqueue_on_commit(command)
        task.refresh_from_db()
        return task
    raise Refused(_("Someone else is changing this recording right now; try again."))


def state_label(task: RecordingTask) -> str:
    """What the page says: the observed state, or the move in progress when staff asked for another."""
    observed, desired = task.observed_state, task.desired_state
    if observed in TERMINAL_STATES:
        return task.get_observed_state_display()
    if desired == DesiredState.STOPPED and observed in (S.STARTING, S.RECORDING, S.PAUSED):
        return _("Stopping…")
    if desired == DesiredState.PAUSED and observed == S.RECORDING:
        return _("Pausing…")
    if desired == DesiredState.RECORDING and observed == S.PAUSED:
        return _("Resuming…")
    if observed == S.STARTING:
        return _("Starting…")
    if observed == S.STOPPING:
        return _("Stopping…")
    if observed == S.PROCESSING:
        return _("Processing files…")
    return task.get_observed_state_display()


# ------------------------------------------------------------------ carrying commands to the vendor


class TryLater(Exception):
    """The command cannot run yet (an earlier command of the same task is unfinished)."""


def _ref(task: RecordingTask) -> TaskRef:
    return TaskRef(
        task_id=task.vendor_task_id,
        room_id=task.room.room_id,
        mode=task.mode,
        resource_id=task.vendor_resource_id,
        sid=task.vendor_sid,
        record_user_id=task.record_user_id,
    )


def _start_spec(task: RecordingTask) -> StartSpec:
    storage = None
    if task.storage is not None:
        t = task.storage
        storage = StorageSpec(
            provider=t.provider,
            region=t.region,
            bucket=t.bucket,
            endpoint=t.endpoint,
            access_key=t.access_key,
            secret=t.secret or "",
            prefix=t.prefix,
        )
    return StartSpec(
        room_id=task.room.room_id,
        mode=task.mode,
        intent_key=str(task.pk),
        group_id=task.room.group_id,
        options=task.options,
        storage=storage,
        callback_url=task.app.callback_url,
    )


def execute_command(command_id: int) -> None:
    """Carry one accepted intent to the vendor. Idempotent: a finished command is not sent again.

    Raises VendorError when a retry may help (tasks.py retries with backoff), TryLater when an
    earlier command of the task is still unfinished.
    """
    command = (
        VendorCommand.objects.select_related("task__app", "task__room", "task__storage")
        .filter(pk=command_id)
        .first()
    )
    if command is None or command.status in (CommandStatus.DONE, CommandStatus.FAILED):
        return
    task = command.task
    if VendorCommand.objects.filter(
        task=task, pk__lt=command.pk, status__in=[CommandStatus.PENDING, CommandStatus.SENT]
    ).exists():
        raise TryLater(f"an earlier command of task {task.pk} is unfinished")
    # Claim it: of two deliveries of the same message (a redelivery, the sweeper), one runs.
    now = timezone.now()
    claimed = (
        VendorCommand.objects.filter(pk=command.pk, status__in=[CommandStatus.PENDING, CommandStatus.SENT])
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(status=CommandStatus.SENT, attempts=F("attempts") + 1, claimed_until=now + command_claim())
    )
    if not claimed:
        return
    previous_error = command.error_code
    if command.status == CommandStatus.SENT and not previous_error:
        # It was sent before and no error was recorded: a worker died while it was with the vendor.
        previous_error = "interrupted"
    command.attempts += 1

    adapter = build_adapter(task.app, task=task)
    try:
        if task.observed_state in TERMINAL_STATES:
            _finish_command(command, CommandStatus.DONE, note="the recording had already ended")
            return
        if command.action == "start":
            _run_start(adapter, task, command, previous_error)
        elif command.action in ("pause", "resume", "stop"):
            if not task.vendor_task_id:
                # The start never reached the vendor (it failed); there is nothing to pause or stop.
                _finish_command(command, CommandStatus.DONE, note="no vendor recording exists")
                return
            answer = getattr(adapter, command.action)(_ref(task))
            _apply_answer(task, command.action, answer, adapter.capabilities)
        elif command.action == "update_layout":
            adapter.update_layout(_ref(task), command.payload.get("layout", {}))
        elif command.action == "update_whiteboard":
            adapter.update_whiteboard(_ref(task), command.payload.get("whiteboard", {}))
        else:
            raise ValueError(f"unknown command action {command.action!r}")
    except VendorError as exc:
        _command_failed(command, task, exc)
        return
    _finish_command(command, CommandStatus.DONE)
    _poll_soon(task)


def _apply_answer(task: RecordingTask, action: str, answer, capabilities) -> None:
    """What a command's answer itself tells: a stop's file list (Agora), or a pause/resume the
    vendor accepted where its query cannot show pauses (Tencent legacy)."""
    if isinstance(answer, VendorStatus):
        apply_observation(task.pk, Observation.from_status(answer), SYSTEM)
    elif action in ("pause", "resume") and not capabilities.reports_pause:
        state = S.PAUSED if action == "pause" else S.RECORDING
        # ordered=True: unlike a query's "recording", an accepted resume does end the pause.
        apply_observation(
            task.pk, Observation(state=state, vendor_state=f"{action} accepted", ordered=True), SYSTEM
        )


def _run_start(adapter, task: RecordingTask, command: VendorCommand, previous_error: str) -> None:
    spec = _start_spec(task)
    ref = None
    if command.attempts > 1 and previous_error in (
        "timeout",
        "server",
        "malformed",
        "rate_limited",
        "interrupted",
    ):
        # The previous attempt may have reached the vendor: ask before starting again, so one
        # intent never makes two recordings.
        try:
            ref = adapter.recover_start(spec)
        except VendorError as exc:
            if exc.kind != "conflict":
                raise
            # The vendor says this intent's recording exists but cannot tell its id (Tencent,
            # Agora): it arrives with the vendor's "started" callback, bound by the record user
            # id the intent chose. Until then the task stays "starting"; the reconciler flags it
            # as stuck if the callback never comes.
            _audit(SYSTEM, "vendor.start_unconfirmed", task, {}, {}, detail=exc.message)
            return
    if ref is None:
        ref = adapter.start(spec)
    with transaction.atomic():
        locked = RecordingTask.objects.select_for_update().get(pk=task.pk)
        RecordingTask.objects.filter(pk=task.pk).update(
            vendor_task_id=ref.task_id,
            vendor_resource_id=ref.resource_id,
            vendor_sid=ref.sid,
            record_user_id=ref.record_user_id,
            version=F("version") + 1,
        )
        _audit(SYSTEM, "vendor.started", locked, {}, {"vendor_task_id": ref.task_id})
    task.refresh_from_db()


def _command_failed(command: VendorCommand, task: RecordingTask, exc: VendorError) -> None:
    """Record a vendor refusal; re-raise it when a retry can help and attempts remain."""
    kind = exc.kind if exc.kind in TRANSIENT_KINDS else exc.code
    VendorCommand.objects.filter(pk=command.pk).update(error_code=kind[:64], error_message=exc.message[:2000])
    if command.action == "stop" and exc.kind == "not_found":
        # The vendor no longer knows the recording: it ended on its side. Querying tells how, and
        # if it does still record after all, the reconciler sends the stop again.
        _finish_command(command, CommandStatus.DONE, note=exc.message)
        _poll_soon(task)
        return
    if (exc.retryable or exc.kind in TRANSIENT_KINDS) and command.attempts < MAX_COMMAND_ATTEMPTS:
        command.error_code = kind
        raise exc  # tasks.run_command schedules the retry and releases the claim until then
    _finish_command(command, CommandStatus.FAILED, note=exc.message)
    _record_refusal(task, command, exc)


def release_for_retry(command_id: int, delay_seconds: float) -> None:
    """Hold the claim until the retry is due, then let it (or the sweeper, if the retry is lost) run."""
    VendorCommand.objects.filter(pk=command_id, status=CommandStatus.SENT).update(
        claimed_until=timezone.now() + timedelta(seconds=delay_seconds)
    )


def _finish_command(command: VendorCommand, status: str, note: str = "") -> None:
    fields = {"status": status, "completed_at": timezone.now(), "claimed_until": None}
    if note and status == CommandStatus.FAILED:
        fields["error_message"] = note[:2000]
    VendorCommand.objects.filter(pk=command.pk).update(**fields)


def _record_refusal(task: RecordingTask, command: VendorCommand, exc: VendorError) -> None:
    """A command the vendor refused for good: say so on the task, and bring desired back to reality."""
    with transaction.atomic():
        locked = RecordingTask.objects.select_for_update().get(pk=task.pk)
        before = {"observed": locked.observed_state, "desired": locked.desired_state}
        updates = {"error_code": exc.code[:64], "error_message": exc.message, "version": F("version") + 1}
        if command.action == "start":
            updates.update(
                observed_state=S.FAILED,
                desired_state=DesiredState.STOPPED,
                finish_reason=FinishReason.START_FAILED,
                finish_detail=exc.explanation_en[:255],
                state_changed_at=timezone.now(),
                finished_at=timezone.now(),
                next_poll_at=None,
            )
        elif command.action in ("pause", "resume") and locked.observed_state in (S.RECORDING, S.PAUSED):
            updates["desired_state"] = (
                DesiredState.PAUSED if locked.observed_state == S.PAUSED else DesiredState.RECORDING
            )
        RecordingTask.objects.filter(pk=locked.pk).update(**updates)
        after = {
            k: str(v) for k, v in updates.items() if k in ("observed_state", "desired_state", "error_code")
        }
        _audit(SYSTEM, f"{command.action}.refused", locked, before, after, detail=exc.message)


def _poll_soon(task: RecordingTask) -> None:
    """Confirm a command took: ask the vendor once its documented delay (~2 s Tencent, ~5 s Agora
    web) has passed, whatever the beat's period."""
    from recordings import tasks

    RecordingTask.objects.filter(pk=task.pk).update(
        next_poll_at=timezone.now() + timedelta(seconds=POLL_MIN_SECONDS), poll_streak=0
    )
    transaction.on_commit(lambda: tasks.poll_soon(task.pk, delay=3.0))


# ------------------------------------------------------------------ what the vendor tells us


@dataclass(frozen=True)
class Observation:
    """One thing the vendor told us, from a query, a callback or a command's answer."""

    state: str | None
    vendor_state: str = ""
    occurred_at: datetime | None = None
    finish_reason: str | None = None
    finish_detail: str = ""
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    segments: tuple[SegmentInfo, ...] = ()
    error_code: str = ""
    error_message: str = ""
    # Events are ordered by vendor time, or by the vendor's sequence where it has one. A query
    # answer describes "now"; `asked_at` (our clock) is when the question was sent (_is_stale).
    ordered: bool = False
    sequence: int | None = None
    asked_at: datetime | None = None
    # The vendor's "recording began" event: news only to a task still starting.
    starts_recording: bool = False

    @classmethod
    def from_status(
        cls, status: VendorStatus, at: datetime | None = None, asked_at: datetime | None = None
    ) -> Observation:
        return cls(
            state=status.state,
            vendor_state=status.vendor_state,
            occurred_at=at,
            finish_reason=status.finish_reason,
            finish_detail=status.finish_detail,
            started_at=status.started_at,
            stopped_at=status.stopped_at,
            segments=status.segments,
            error_code=status.error_code,
            error_message=status.error_message,
            asked_at=asked_at,
        )

    @classmethod
    def from_event(cls, event: VendorEvent) -> Observation:
        return cls(
            state=event.state,
            vendor_state=event.vendor_event,
            occurred_at=event.occurred_at,
            finish_reason=event.finish_reason,
            finish_detail=event.finish_detail,
            started_at=event.started_at,
            stopped_at=event.stopped_at,
            segments=event.segments,
            error_code=event.error_code,
            error_message=event.error_message,
            ordered=True,
            sequence=event.sequence,
            starts_recording=event.kind == EventKind.STARTED,
        )


def apply_observation(task_id: int, obs: Observation, actor: Actor) -> str:
    """Move observed state as the vendor says, if the move is legal and not stale. Returns an outcome:
    "applied", "unchanged", "stale" or "illegal". Segments are stored idempotently in every case."""
    return _apply(task_id, obs, actor)[0]


def _apply(task_id: int, obs: Observation, actor: Actor) -> tuple[str, RecordingTask]:
    """`apply_observation`, also returning the task as the observation left it."""
    with transaction.atomic():
        task = (
            RecordingTask.objects.select_for_update(of=("self",))
            .select_related("app", "storage")
            .get(pk=task_id)
        )
        return _observe([(task, obs)], actor)[0], task


def _observe(locked: list[tuple[RecordingTask, Observation]], actor: Actor) -> list[str]:
    """What apply_observation does, to tasks whose rows this transaction locked and read: moves
    each by the same rules, writes the moves, then stores each one's files. Returns the outcomes."""
    decided = [(task, obs, *_changes(task, obs)) for task, obs in locked]
    _transition(decided, actor)
    for task, obs, *_decision in decided:
        _store_segments(task, obs.segments)
    return [outcome for _task, _obs, outcome, _updates in decided]


def _apply_each(
    tasks: dict[int, RecordingTask], observations: dict[int, Observation], actor: Actor
) -> dict[int, tuple[str, RecordingTask]]:
    """`_apply` for several tasks (`tasks`: loaded with their app and storage), their rows locked
    and read into the same objects by one query, in one transaction. If any one fails, that
    transaction is rolled back whole and each is applied on its own, so the others still stand;
    one that fails then is logged and left out of the result."""
    if not observations:
        return {}
    try:
        with transaction.atomic():
            fresh = _read_again([tasks[pk] for pk in observations], lock=True)
            outcomes = _observe([(task, observations[pk]) for pk, task in fresh.items()], actor)
            return {pk: (outcome, task) for (pk, task), outcome in zip(fresh.items(), outcomes, strict=True)}
    except Exception:
        log.warning("%s observations applied together failed; applying each alone", actor.type, exc_info=True)
    applied: dict[int, tuple[str, RecordingTask]] = {}
    for pk, obs in observations.items():
        try:
            applied[pk] = _apply(pk, obs, actor)
        except Exception:
            log.exception("task %s: observation from %s not applied", pk, actor.type)
    return applied


PAUSE_CYCLE = frozenset({S.RECORDING, S.PAUSED})


def _is_stale(task: RecordingTask, obs: Observation) -> bool:
    """Older than what the task already reflects.

    A callback is older than the newest applied one by the vendor's sequence where it has one
    (ZEGO stamps a callback when it sends it, so a retried or held-back one looks new), else by
    its event time. A query answer is "now" at the vendor when it answered, but it is applied
    later: if the state moved after the question was asked (a callback, or another poll's
    answer, came in between), the answer may be older than that move, and must not move the
    task back along the one cycle of TRANSITIONS, recording <-> paused. Both times are ours.
    Moves out of the cycle are facts that stay true, and need no order."""
    if obs.ordered:
        if obs.sequence is not None and task.last_event_sequence is not None:
            return obs.sequence < task.last_event_sequence
        return bool(obs.occurred_at and task.last_event_at and obs.occurred_at < task.last_event_at)
    return bool(
        obs.asked_at
        and obs.state in PAUSE_CYCLE
        and task.observed_state in PAUSE_CYCLE
        and task.state_changed_at > obs.asked_at
    )


def _transition(decided: list[tuple[RecordingTask, Observation, str, dict]], actor: Actor) -> None:
    """Carry out what `_changes` decided for tasks whose rows this transaction locked and read: an
    audit row for each state move, and every task's changed fields written, its version bumped.
    Their objects hold the rows' values, so one statement, sent once per task, writes them all."""
    written: list[RecordingTask] = []
    fields = {"version"}
    for task, obs, outcome, updates in decided:
        if outcome == "illegal":
            log.info(
                "task %s: ignoring %s -> %s from %s (not a legal move)",
                task.pk,
                task.observed_state,
                obs.state,
                actor.type,
            )
        if not updates:
            continue
        if outcome == "applied":
            new = updates["observed_state"]
            _audit(
                actor,
                "observed",
                task,
                {"observed": task.observed_state},
                {"observed": new, "vendor_state": obs.vendor_state},
                detail=obs.finish_detail or obs.error_message,
            )
            if new == S.FINISHED:
                _on_finished(task)
        for key, value in updates.items():
            setattr(task, key, value)
        task.version += 1
        written.append(task)
        fields.update(updates)
    update_rows(written, sorted(fields))


def _changes(task: RecordingTask, obs: Observation) -> tuple[str, dict]:
    """What `obs` changes in `task`: the outcome ("applied", "unchanged", "stale", "illegal") and
    the field updates, empty when the observation tells nothing new. Reads only; writes nothing."""
    now = timezone.now()
    if _is_stale(task, obs):
        return "stale", {}
    updates: dict = {}
    if obs.ordered and obs.occurred_at:
        updates["last_event_at"] = obs.occurred_at
    if obs.sequence is not None and (
        task.last_event_sequence is None or obs.sequence > task.last_event_sequence
    ):
        updates["last_event_sequence"] = obs.sequence
    if obs.started_at and obs.started_at != task.started_at:
        # The vendor's own statement of when recording began wins over our inference from the time
        # we first heard it was recording (which may come from another clock, e.g. a callback stamp).
        updates["started_at"] = obs.started_at
    if obs.stopped_at and not task.stopped_at:
        updates["stopped_at"] = obs.stopped_at
    if obs.vendor_state and obs.vendor_state[:32] != task.vendor_state:
        # Only when it changed: a poll repeating what we know then writes nothing (no row update,
        # no version bump that would fail a staff click's compare-and-set).
        updates["vendor_state"] = obs.vendor_state[:32]
    outcome = "unchanged"
    new = obs.state
    if (
        not obs.ordered
        and new == S.RECORDING
        and task.observed_state == S.PAUSED
        and not _capabilities(task).reports_pause
    ):
        # This vendor's query says "recording" during a pause too; only a resume answer ends a pause.
        new = None
    if obs.starts_recording and task.observed_state != S.STARTING:
        # Callbacks arrive late: a poll may have seen the recording paused already, and its start
        # event, applied after that, is old news, not a resume (bench/callbacks.py: 28 tasks entered
        # "recording" twice this way in one 10,000-callback run).
        new = None
    if new and new != task.observed_state:
        if new not in TRANSITIONS[task.observed_state]:
            outcome = "illegal"
        else:
            outcome = "applied"
            updates.update(observed_state=new, state_changed_at=now)
            at = obs.occurred_at or now
            if new == S.RECORDING and task.started_at is None and "started_at" not in updates:
                # The vendor's word that recording began, on the vendor's clock (its event time or
                # the Date of its answer), so pauses and file times share one clock.
                updates["started_at"] = at
            updates["pause_intervals"] = _pauses_after(task, task.observed_state, new, at, obs.started_at)
            if new in TERMINAL_STATES:
                updates.update(finished_at=now, next_poll_at=None)
                if new == S.FAILED or obs.finish_reason:
                    updates["finish_reason"] = obs.finish_reason or FinishReason.UNKNOWN
                    updates["finish_detail"] = obs.finish_detail[:255]
                if obs.error_code:
                    updates.update(error_code=obs.error_code[:64], error_message=obs.error_message)
                if task.desired_state != DesiredState.STOPPED:
                    updates["desired_state"] = DesiredState.STOPPED
            elif new in (S.STOPPING, S.PROCESSING):
                if obs.finish_reason:
                    updates.update(finish_reason=obs.finish_reason, finish_detail=obs.finish_detail[:255])
                if task.desired_state != DesiredState.STOPPED:
                    # The vendor stopped by itself (idle room, maximum time): staff's wish follows reality.
                    updates["desired_state"] = DesiredState.STOPPED
    return outcome, updates


def _pauses_after(task: RecordingTask, old: str, new: str, at: datetime, started_at: datetime | None) -> list:
    """Open a pause band when recording stops for a pause; close it when recording resumes or ends."""
    pauses = [list(p) for p in task.pause_intervals]
    origin = task.started_at or started_at
    if origin is None:
        return pauses
    offset = max(0, int((at - origin).total_seconds() * 1000))
    if new == S.PAUSED and old != S.PAUSED:
        pauses.append([offset, None])
    elif old == S.PAUSED and pauses and pauses[-1][1] is None:
        pauses[-1][1] = max(offset, pauses[-1][0])
    return pauses


def _on_finished(task: RecordingTask) -> None:
    """Hook for what follows a finished recording (archiving), after the transaction commits."""
    from recordings import tasks

    transaction.on_commit(lambda: tasks.after_finished(task.pk))


def wall_offset_ms(info: SegmentInfo, task: RecordingTask) -> int:
    """Place a segment on the recording's wall clock.

    Vendors with absolute file times (ZEGO, Agora, Volcengine) give epoch ms. Tencent gives a
    position on the replay timeline, where pauses are cut out: add back every pause that began at
    or before that position.
    """
    if info.started_at_ms is not None:
        if task.started_at is None:
            return 0
        return max(0, info.started_at_ms - int(task.started_at.timestamp() * 1000))
    position = info.play_offset_ms or 0
    shift, cut = 0, 0
    for start, end in task.pause_intervals:
        if end is None:
            continue
        replay_start = start - cut
        if replay_start <= position:
            shift += end - start
        cut += end - start
    return position + shift


def _pause_positions(segments: tuple[SegmentInfo, ...]) -> list[int]:
    """Where pauses sit on a replay timeline: the positions where one file ends and another begins
    (seed 002: three files end at 900000 and three begin there)."""
    replay = [s for s in segments if s.started_at_ms is None and s.play_offset_ms is not None]
    starts = {s.play_offset_ms for s in replay if s.play_offset_ms}
    ends = {s.play_offset_ms + s.duration_ms for s in replay}
    return sorted(starts & ends)


def _aligned_pauses(task: RecordingTask, segments: tuple[SegmentInfo, ...]) -> list:
    """Our pause times come from polls, a few seconds late; the vendor's files mark exactly where
    each pause cut the replay. Keep our measured lengths, put them where the files say."""
    closed = [p for p in task.pause_intervals if p[1] is not None]
    positions = _pause_positions(segments)
    if not closed or len(positions) != len(closed):
        return task.pause_intervals
    aligned, cut = [], 0
    for (start, end), position in zip(closed, positions, strict=True):
        aligned.append([position + cut, position + cut + (end - start)])
        cut += end - start
    return aligned + [p for p in task.pause_intervals if p[1] is None]


def _store_segments(task: RecordingTask, segments: tuple[SegmentInfo, ...]) -> None:
    """Store a file listing. The caller holds the task's row lock, so reading then writing the
    rows is safe."""
    if not segments:
        return
    aligned = _aligned_pauses(task, segments)
    if aligned != task.pause_intervals:
        RecordingTask.objects.filter(pk=task.pk).update(pause_intervals=aligned)
        task.pause_intervals = aligned
    new, changed = _merge_listing(task, segments, _stored_files(task, segments))
    Segment.objects.bulk_create(new, ignore_conflicts=True)
    if changed:
        Segment.objects.bulk_update(changed, _MERGED)


def _stored_files(task: RecordingTask, segments: tuple[SegmentInfo, ...]) -> dict[str, Segment]:
    """The task's stored rows of the files a listing names, by vendor file id."""
    listed = [info.file_id for info in segments]
    return {s.vendor_file_id: s for s in Segment.objects.filter(task=task, vendor_file_id__in=listed)}


def _listing_is_news(task: RecordingTask, segments: tuple[SegmentInfo, ...], stored: dict) -> bool:
    """Whether storing `segments` would write anything (`stored`: `_stored_files`, a copy to spend)."""
    if not segments:
        return False
    if _aligned_pauses(task, segments) != task.pause_intervals:
        return True
    new, changed = _merge_listing(task, segments, stored)
    return bool(new or changed)


def _merge_listing(
    task: RecordingTask, segments: tuple[SegmentInfo, ...], stored: dict[str, Segment]
) -> tuple[list[Segment], list[Segment]]:
    """The rows a listing adds and the stored rows it changes (merged in place in `stored`).

    Vendors list a file again as it progresses (ZEGO: uploading without a URL, then uploaded;
    Agora: each answer ends a lane's last file at its own time). A file is one row by
    (task, vendor_file_id); each listing merges into it field by field, keeping the most complete
    value (the longest duration and size, a URL once known), so the final answer wins in whatever
    order answers are applied: a stale query applied after the upload callback cannot shorten the
    file again. A duration that is only an upper bound (Agora's last file of a lane, ended by the
    answer's time) keeps the smallest bound instead: a later answer's bound only adds the time it
    came later. A row being archived or archived is left alone: its copy was made from what it says.
    """
    new: dict[str, Segment] = {}
    changed: dict[str, Segment] = {}
    for info in segments:
        row = Segment(
            task=task,
            user_id=info.user_id,
            kind=info.kind,
            offset_ms=wall_offset_ms(info, task),
            duration_ms=max(0, info.duration_ms),
            size_bytes=info.size_bytes,
            format=info.format[:16],
            vendor_url=info.url or object_url(task.storage, info.object_key),
            vendor_file_id=info.file_id,
            width=info.width,
            height=info.height,
        )
        old = new.get(row.vendor_file_id) or stored.get(row.vendor_file_id)
        if old is None:
            new[row.vendor_file_id] = row
            continue
        if old.archive_status in (ArchiveStatus.COPYING, ArchiveStatus.ARCHIVED):
            continue
        before = [getattr(old, field) for field in _MERGED]
        old.offset_ms = row.offset_ms
        if info.duration_is_bound and old.duration_ms:
            old.duration_ms = min(old.duration_ms, row.duration_ms)  # the tightest bound (Agora)
        else:
            old.duration_ms = max(old.duration_ms, row.duration_ms)
        old.size_bytes = max(old.size_bytes, row.size_bytes)
        for field in ("format", "vendor_url", "width", "height"):
            setattr(old, field, getattr(row, field) or getattr(old, field))
        if old.pk is not None and before != [getattr(old, field) for field in _MERGED]:
            changed[row.vendor_file_id] = old
    return list(new.values()), list(changed.values())


_MERGED = ["offset_ms", "duration_ms", "size_bytes", "format", "vendor_url", "width", "height"]


# ------------------------------------------------------------------ callbacks and reconciliation


def apply_delivery(delivery_id: int) -> str:
    """Apply one stored callback through apply_observation, once.

    Pending deliveries of the same task are applied in vendor-time order: an earlier one still
    pending is applied first.
    """
    delivery = CallbackDelivery.objects.select_related("app").get(pk=delivery_id)
    if delivery.outcome != DeliveryOutcome.PENDING:
        return delivery.outcome
    app = delivery.app
    parsed = _parser(app).parse(bytes(delivery.raw_body), delivery.headers, delivery.query)
    event = next((e for e in parsed if e.delivery_key == delivery.delivery_key), None)
    if event is None:
        return _settle(delivery, DeliveryOutcome.ERROR, "the stored body no longer parses to this event")
    task = _task_for_event(app, event)
    if task is None:
        return _settle(
            delivery, DeliveryOutcome.IGNORED, f"no recording with vendor task id {event.task_id!r}"
        )
    if event.state is None and not event.segments:
        return _settle(
            delivery, DeliveryOutcome.IGNORED, f"event {event.vendor_event} carries no state", task=task
        )
    outcome = apply_observation(task.pk, Observation.from_event(event), CALLBACK)
    mapped = {
        "applied": DeliveryOutcome.APPLIED,
        "unchanged": DeliveryOutcome.APPLIED,
        "stale": DeliveryOutcome.STALE,
        "illegal": DeliveryOutcome.STALE,
    }[outcome]
    return _settle(delivery, mapped, outcome, task=task)


def _parser(app):
    """An adapter to parse a stored callback, from the app's cached config: a fresh one reads and
    decrypts the app's credentials, for every callback of a busy app."""
    return build_adapter(app, config=cached_app_config(app))


def _task_for_event(app, event: VendorEvent) -> RecordingTask | None:
    tasks = RecordingTask.objects.filter(app=app)
    if event.task_id:
        found = tasks.filter(vendor_task_id=event.task_id).first()
        if found:
            return found
    if event.record_user_id:
        # A start whose answer was lost (timeout) is bound to its task by the record user id the
        # intent chose, which the vendor's "started" callback repeats.
        found = tasks.filter(record_user_id=event.record_user_id).first() or _task_by_intent(tasks, event)
        if found and event.task_id and not found.vendor_task_id:
            RecordingTask.objects.filter(pk=found.pk, vendor_task_id="").update(vendor_task_id=event.task_id)
            found.refresh_from_db()
        return found
    return None


def _task_by_intent(tasks, event: VendorEvent) -> RecordingTask | None:
    suffix = event.record_user_id.rsplit("_", 1)[-1]
    return tasks.filter(pk=int(suffix)).first() if suffix.isdigit() else None


def _settle(delivery: CallbackDelivery, outcome: str, detail: str, task: RecordingTask | None = None) -> str:
    bound = {"task": task} if task is not None and delivery.task_id != task.pk else {}
    CallbackDelivery.objects.filter(pk=delivery.pk, outcome=DeliveryOutcome.PENDING).update(
        outcome=outcome, outcome_detail=detail[:2000], applied_at=timezone.now(), **bound
    )
    return outcome


def record_delivery(
    *,
    app,
    vendor: str,
    body: bytes,
    headers: dict,
    query: dict,
    event: VendorEvent | None,
    signature_ok: bool,
    rejection: str = "",
) -> CallbackDelivery | None:
    """Store a callback in the inbox. Returns None for a duplicate delivery key (already stored).

    One INSERT ... ON CONFLICT DO NOTHING, compiled once per process (prepared_insert.py): outside a
    transaction (the receiver runs in autocommit) it commits on its own, one round trip and one WAL
    flush per callback; inside one, a duplicate raises nothing, so it needs no savepoint."""
    delivery = CallbackDelivery(
        vendor=vendor,
        app=app,
        raw_body=body,
        headers=headers,
        query=query,
        signature_ok=signature_ok,
        rejection_reason=rejection[:255],
    )
    if event is None:
        delivery.outcome = DeliveryOutcome.REJECTED if not signature_ok else DeliveryOutcome.IGNORED
    else:
        delivery.delivery_key = event.delivery_key[:255]
        delivery.event_type = event.vendor_event[:64]
        delivery.vendor_task_id = event.task_id[:128]
        delivery.event_time = event.occurred_at
    return delivery if _INBOX_INSERT.insert(delivery) else None


_INBOX_INSERT = PreparedInsert(CallbackDelivery)


def reconcile_task(task_id: int) -> str:
    """Ask the vendor how a task is, apply the answer, stop it past the app's maximum duration."""
    return reconcile_tasks([task_id]).get(task_id, "gone")


@dataclass
class _Answer:
    """A query's result, held until the batch's other queries are done."""

    task: RecordingTask
    asked_at: datetime
    status: VendorStatus | None = None
    error: VendorError | None = None
    server_time: datetime | None = None


def reconcile_tasks(task_ids: list[int]) -> dict[int, str]:
    """`reconcile_task` for a batch of leased tasks.

    In a pass over thousands of recordings the per-poll database work, not the vendors' answers,
    bounded the pass (bench/reconcile.py). So a batch works in steps, each one statement for the
    batch where it can be:
    1. ask every vendor (no lock is held), keeping each call's VendorCall row, saved in one INSERT;
    2. read the tasks, and the stored rows of the files they list, again: an answer that changes
       nothing against this fresh read is as if applied at that moment, and needs no lock;
    3. apply the answers with news under the row locks of their tasks, taken with one query in
       one transaction (each alone if that fails), by the rules apply_observation applies one by;
    4. reschedule: one UPDATE for the tasks that moved, one for the rest.
    One task's failure is logged and does not stop the rest (its lease lapses and a later pass
    polls it again)."""
    outcomes: dict[int, str] = {}
    calls: list[VendorCall] = []
    answers: list[_Answer] = []
    idle: list[RecordingTask] = []
    # Not the storage's secret: a poll never uses it, and it would be decrypted for every task.
    tasks = (
        RecordingTask.objects.select_related("app", "room", "storage")
        .defer("storage__secret")
        .filter(pk__in=task_ids)
    )
    for task in tasks:
        if task.observed_state in TERMINAL_STATES:
            outcomes[task.pk] = "terminal"
        elif not task.vendor_task_id:
            # Not started at the vendor yet (or the start failed): the command path owns it.
            outcomes[task.pk] = "not started"
            idle.append(task)
        else:
            try:
                answers.append(_ask(task, calls))
            except Exception:
                log.exception("reconcile task %s: query failed", task.pk)
                outcomes[task.pk] = "error"
    # Saved before any answer is applied: _gone_at_vendor reads the latest calls.
    VendorCall.objects.bulk_create(calls)

    fresh = _read_again([answer.task for answer in answers])
    stored = _stored_files_of_answers(answers)
    polled: list[tuple[RecordingTask, str]] = []  # each task with its observed state before
    news: dict[int, Observation] = {}
    for answer in answers:
        pk = answer.task.pk
        task = fresh.get(pk)
        if task is None or task.observed_state in TERMINAL_STATES:
            outcomes[pk] = "terminal"
        elif answer.error is not None:
            try:
                outcomes[pk] = _query_failed(task, answer.error, idle)
            except Exception:
                log.exception("reconcile task %s failed", pk)
                outcomes[pk] = "error"
        else:
            obs = Observation.from_status(answer.status, at=answer.server_time, asked_at=answer.asked_at)
            outcome, updates = _changes(task, obs)
            if updates or outcome == "illegal" or _listing_is_news(task, obs.segments, stored.get(pk, {})):
                news[pk] = obs
            outcomes[pk] = outcome
            polled.append((task, task.observed_state))

    applied = _apply_each(fresh, news, RECONCILER)
    moved: list[RecordingTask] = []
    for task, before in polled:
        if task.pk in news:
            if task.pk not in applied:
                outcomes[task.pk] = "error"
                continue
            outcomes[task.pk], applied_to = applied[task.pk]
            if applied_to is not task:  # applied alone, to a task loaded again
                for field in OBSERVED_FIELDS:
                    setattr(task, field, getattr(applied_to, field))
        try:
            _enforce_max_duration(task)
            _converge_stop(task)
        except Exception:
            log.exception("reconcile task %s: follow-up failed", task.pk)
        if task.observed_state not in TERMINAL_STATES:
            (moved if task.observed_state != before else idle).append(task)
    _reschedule(idle, changed=False)
    _reschedule(moved, changed=True)
    return outcomes


def _ask(task: RecordingTask, calls: list[VendorCall]) -> _Answer:
    adapter = build_adapter(task.app, task=task, config=cached_app_config(task.app), calls=calls)
    asked_at = timezone.now()
    try:
        status = adapter.query(_ref(task))
    except VendorError as exc:
        return _Answer(task, asked_at, error=exc)
    return _Answer(task, asked_at, status=status, server_time=adapter.http.last_server_time)


def _read_again(tasks: list[RecordingTask], *, lock: bool = False) -> dict[int, RecordingTask]:
    """The tasks' fields as they are now, read into the same objects (their app, room and storage
    stay loaded): one light query instead of building every model again. With `lock`, the same
    query locks their rows, in id order, so that two lockers of several never deadlock."""
    by_pk = {task.pk: task for task in tasks}
    rows = RecordingTask.objects.filter(pk__in=by_pk)
    if lock:
        rows = rows.select_for_update().order_by("pk")
    fresh: dict[int, RecordingTask] = {}
    for pk, *values in rows.values_list("pk", *OBSERVED_FIELDS):
        task = fresh[pk] = by_pk[pk]
        for field, value in zip(OBSERVED_FIELDS, values, strict=True):
            setattr(task, field, value)
    return fresh


def _stored_files_of_answers(answers: list[_Answer]) -> dict[int, dict[str, Segment]]:
    """`_stored_files` for every answer of a batch, in one query: task pk -> vendor file id -> row."""
    listed = {
        a.task.pk: [f.file_id for f in a.status.segments] for a in answers if a.status and a.status.segments
    }
    stored: dict[int, dict[str, Segment]] = {}
    if listed:
        file_ids = {file_id for ids in listed.values() for file_id in ids}
        for row in Segment.objects.filter(task_id__in=listed, vendor_file_id__in=file_ids):
            stored.setdefault(row.task_id, {})[row.vendor_file_id] = row
    return stored


def _query_failed(task: RecordingTask, exc: VendorError, idle: list[RecordingTask]) -> str:
    log.warning("reconcile task %s: query failed: %s", task.pk, exc)
    if exc.kind == "not_found" and _gone_at_vendor(task):
        return apply_observation(task.pk, _ended_elsewhere(task), RECONCILER)
    idle.append(task)
    return f"query failed: {exc.code}"


# The fields of a task that apply_observation may write, copied from the task it locked and left.
OBSERVED_FIELDS = [
    f.attname
    for f in RecordingTask._meta.concrete_fields
    if not f.is_relation and f.attname not in ("id", "created_at")
]

# Agora answers a brief 404 during failover ("retry query"), so one 404 is not yet the end.
GONE_AFTER_NOT_FOUND = 3


def _gone_at_vendor(task: RecordingTask) -> bool:
    """The vendor no longer knows the recording: right after a stop we asked for, or when its
    query has answered "not found" several times in a row (it ended on its side, e.g. idle)."""
    if task.desired_state == DesiredState.STOPPED and task.observed_state in (S.STOPPING, S.PROCESSING):
        return True
    recent = list(
        VendorCall.objects.filter(task=task)
        .order_by("-pk")
        .values_list("error_kind", flat=True)[:GONE_AFTER_NOT_FOUND]
    )
    return len(recent) == GONE_AFTER_NOT_FOUND and all(kind == "not_found" for kind in recent)


def _ended_elsewhere(task: RecordingTask) -> Observation:
    stopped = task.desired_state == DesiredState.STOPPED
    return Observation(
        state=S.FINISHED,
        vendor_state="not found",
        finish_reason=FinishReason.USER_CALL if stopped else FinishReason.UNKNOWN,
        finish_detail="the vendor closed the recording after the stop"
        if stopped
        else "the vendor no longer knows this recording; it ended on its side",
    )


def collect_final_segments(task_id: int) -> int:
    """After `finished`: query once more so the final file list is complete (stored idempotently)."""
    task = RecordingTask.objects.select_related("app", "room").get(pk=task_id)
    if not task.vendor_task_id:
        return 0
    try:
        status = build_adapter(task.app, task=task).query(_ref(task))
    except VendorError as exc:
        log.info("task %s: final file list not available: %s", task.pk, exc)
        return 0
    with transaction.atomic():
        locked = RecordingTask.objects.select_for_update().get(pk=task.pk)
        _store_segments(locked, status.segments)
    return len(status.segments)


def _enforce_max_duration(task: RecordingTask) -> None:
    if task.observed_state not in (S.RECORDING, S.PAUSED) or task.desired_state == DesiredState.STOPPED:
        return
    begun = task.started_at or task.created_at
    if timezone.now() - begun < timedelta(seconds=task.app.max_duration_seconds):
        return
    try:
        _change_desired(task, "stop", DesiredState.STOPPED, RECONCILER, payload={"reason": "max_duration"})
        RecordingTask.objects.filter(pk=task.pk, finish_reason="").update(
            finish_reason=FinishReason.MAX_DURATION,
            finish_detail="stopped by RecDesk at the app's maximum duration",
        )
    except Refused:
        pass


def _converge_stop(task: RecordingTask) -> None:
    """Staff asked to stop, every command is done, yet the vendor still records (its stop answer was
    a 404, or it lost the stop): send the stop again, as the reconciler."""
    if task.desired_state != DesiredState.STOPPED or task.observed_state not in (S.RECORDING, S.PAUSED):
        return
    unfinished = VendorCommand.objects.filter(
        task=task, status__in=[CommandStatus.PENDING, CommandStatus.SENT]
    )
    last_stop = VendorCommand.objects.filter(task=task, action="stop").order_by("-pk").first()
    if unfinished.exists() or last_stop is None or last_stop.completed_at is None:
        return
    if timezone.now() - last_stop.completed_at < timedelta(seconds=POLL_MIN_SECONDS * 2):
        return  # the vendor may simply not have caught up with the stop yet
    with transaction.atomic():
        command = VendorCommand.objects.create(task=task, action="stop", payload={"reason": "converge"})
        _audit(
            RECONCILER,
            "stop.resend",
            task,
            {"observed": task.observed_state},
            {"desired": "stopped"},
            detail="the vendor still records after a completed stop",
        )
        _enqueue_on_commit(command)


def _next_poll(streak) -> dict:
    """The update that schedules a task's next poll after `streak` answers in a row that told
    nothing new (a number, or an expression of the row's own streak): back off while answers
    repeat themselves, with jitter so that thousands of tasks do not poll in step. The database
    computes it per row, so a whole batch is rescheduled in one UPDATE."""
    backoff = Least(Value(POLL_MAX_SECONDS), POLL_MIN_SECONDS * Power(2, Least(streak, 6)))
    return {
        "poll_streak": streak,
        "next_poll_at": Value(timezone.now()) + _seconds(backoff * (0.8 + 0.4 * Random())),
    }


def _seconds(number) -> ExpressionWrapper:
    """A number of seconds (an SQL expression) as a duration the database adds to a time."""
    if connection.vendor == "postgresql":
        return ExpressionWrapper(number * Value(timedelta(seconds=1)), output_field=DurationField())
    # SQLite (the demo's database) keeps a duration as whole microseconds.
    return ExpressionWrapper(Cast(number * 1_000_000, BigIntegerField()), output_field=DurationField())


def _reschedule(tasks: list[RecordingTask], *, changed: bool) -> None:
    """Schedule the next poll of tasks still active, in one UPDATE: soon after a change, later the
    longer their answers repeat themselves. A task that a callback ended meanwhile keeps none."""
    if tasks:
        RecordingTask.objects.filter(pk__in=[t.pk for t in tasks], observed_state__in=ACTIVE_STATES).update(
            **_next_poll(0 if changed else F("poll_streak") + 1)
        )


def lease_due_polls(lease: timedelta, limit: int = 500) -> list[int]:
    """Active tasks due for a vendor query, leased so that no other beat tick (or a second beat)
    takes them until the lease ends. SKIP LOCKED makes two concurrent passes take disjoint sets."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            RecordingTask.objects.select_for_update(skip_locked=True)
            .filter(observed_state__in=ACTIVE_STATES, next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", flat=True)[:limit]
        )
        RecordingTask.objects.filter(pk__in=due).update(next_poll_at=now + lease)
    return due


def stuck_tasks():
    now = timezone.now()
    condition = Q()
    for state, after in STUCK_AFTER.items():
        condition |= Q(observed_state=state, state_changed_at__lt=now - after)
    return RecordingTask.objects.filter(condition)
