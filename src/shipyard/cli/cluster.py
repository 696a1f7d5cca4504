"""``shipyard cluster …``: kubectl's everyday verbs against the embedded cluster.

The cluster lives in ``--data-dir`` (``$SHIPYARD_DATA_DIR``, default ``~/.shipyard``) as a
SQLite database, so every command opens it, acts, and closes it; nothing needs to run in the
background. Errors print one line per problem — what was wrong and the field path — and exit
non-zero, as kubectl does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.output import describe as describe_text
from shipyard.cli.output import format_objects, table_for
from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.workloads.rollout import (
    history_table,
    rollout_history,
    rollout_status,
    rollout_undo,
)
from shipyard.core.clock import format_time
from shipyard.core.durations import DurationError, format_duration, parse_duration
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, meta
from shipyard.core.selectors import parse_label_selector
from shipyard.platform.session import ClusterSession
from shipyard.platform.wiring import default_data_dir
from shipyard.store.manifests import apply_object, load_manifests
from shipyard.store.scheme import KindInfo
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Work with the embedded cluster, kubectl-style.")

_state: dict[str, Path] = {}

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="SHIPYARD_DATA_DIR", help="Where the cluster is kept."),
]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace.")]
Files = Annotated[
    list[str] | None,
    typer.Option("--filename", "-f", help="A manifest file, a directory of them, or - for stdin."),
]


@app.callback()
def _cluster(data_dir: DataDir = None) -> None:
    _state["data_dir"] = data_dir or default_data_dir()


@contextmanager
def _session() -> Iterator[ClusterSession]:
    try:
        session = ClusterSession(_state.get("data_dir") or default_data_dir())
    except ShipyardError as e:
        _fail(e)
    try:
        yield session
    except ShipyardError as e:
        _fail(e)
    finally:
        session.close()


@contextmanager
def _open() -> Iterator[Store]:
    with _session() as session:
        yield session.store


def _fail(error: ShipyardError) -> None:
    typer.echo(_error_text(error), err=True)
    raise typer.Exit(1)


def _error_text(error: ShipyardError) -> str:
    if isinstance(error, InvalidError) and error.causes:
        return "\n".join(f"error: {error.subject} is invalid: {c}" for c in error.causes)
    return f"error: {error.message}"


def _manifests(files: list[str]) -> list[Obj]:
    stdin = sys.stdin.read() if "-" in files else None
    return [m.obj for f in files for m in load_manifests(f, stdin)]


@app.command()
def apply(files: Files = None, namespace: Namespace = None) -> None:
    """Create or update objects from manifests (client-side apply, three-way merge)."""
    if not files:
        _usage("must specify -f/--filename")
    with _open() as store:
        failed = False
        for obj in _manifests(files or []):
            try:
                result = apply_object(store, obj, namespace=namespace or "default")
                for warning in result.warnings:
                    typer.echo(f"Warning: {warning}", err=True)
                typer.echo(str(result))
            except ShipyardError as e:
                typer.echo(_error_text(e), err=True)
                failed = True
        if failed:
            raise typer.Exit(1)


@app.command()
def get(
    kinds: Annotated[str, typer.Argument(help="Kinds, comma-separated: pods,deploy,nodes")],
    names: Annotated[list[str] | None, typer.Argument(help="Names to show.")] = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
    field_selector: Annotated[str | None, typer.Option("--field-selector")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="wide|yaml|json|name")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Then follow changes.")] = False,
    watch_for: Annotated[
        str, typer.Option("--for", help="With -w: how long to run the cluster (virtual time).")
    ] = "1m",
) -> None:
    """Show objects as a table, or as YAML/JSON; with -w, run the cluster and show changes."""
    if output not in (None, "wide", "yaml", "json", "name"):
        _usage(f'unable to match a printer suitable for the output format "{output}"')
    seconds = _seconds(watch_for)
    with _session() as session:
        store = session.store
        infos = [store.scheme.resolve(k) for k in kinds.split(",") if k]
        ns = None if all_namespaces else (namespace or "default")
        groups = [(i, _fetch(store, i, names or [], ns, selector, field_selector)) for i in infos]
        _print_groups(store, groups, output, all_namespaces, ns)
        if watch:
            follow = _Follower(infos, names or [], ns, selector, output, all_namespaces, store)
            session.run_for(seconds, on_event=follow)


class _Follower:
    """``get -w``: one row (no header) per change of a listed object, as kubectl prints them."""

    def __init__(
        self,
        infos: list[KindInfo],
        names: list[str],
        ns: str | None,
        selector: str | None,
        output: str | None,
        all_namespaces: bool,
        store: Store,
    ) -> None:
        self._infos = {(i.api_version, i.kind): i for i in infos}
        self._names, self._ns, self._output = set(names), ns, output
        self._selector = parse_label_selector(selector) if selector else None
        self._all, self._store = all_namespaces, store

    def __call__(self, event: WatchEvent) -> None:
        obj = event.object
        info = self._infos.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        md = meta(obj)
        if info is None or (self._names and md.get("name") not in self._names):
            return
        if info.namespaced and self._ns is not None and md.get("namespace") != self._ns:
            return
        if self._selector is not None and not self._selector.matches(md.get("labels") or {}):
            return
        if self._output in ("yaml", "json", "name"):
            typer.echo(format_objects([obj], self._output))
            return
        table = table_for(
            info,
            [obj],
            now=self._store.clock.now(),
            wide=self._output == "wide",
            all_namespaces=self._all,
            with_kind=len(self._infos) > 1,
        )
        typer.echo(table.splitlines()[-1])


def _fetch(
    store: Store,
    info: KindInfo,
    names: list[str],
    ns: str | None,
    selector: str | None,
    field_selector: str | None,
) -> list[Obj]:
    scope = (ns or "") if info.namespaced else ""
    if names:
        return [store.get(info.api_version, info.kind, n, namespace=scope) for n in names]
    listed = store.list(
        info.api_version,
        info.kind,
        namespace=ns if info.namespaced else None,
        label_selector=selector,
        field_selector=field_selector,
    )
    return list(listed.items)


def _print_groups(
    store: Store,
    groups: list[tuple[KindInfo, list[Obj]]],
    output: str | None,
    all_namespaces: bool,
    ns: str | None,
) -> None:
    everything = [o for _, objs in groups for o in objs]
    if not everything:
        where = "" if all_namespaces else f" in {ns} namespace"
        typer.echo(f"No resources found{where}.", err=True)
        return
    if output in ("yaml", "json", "name"):
        typer.echo(format_objects(everything, output))
        return
    now = store.clock.now()
    tables = [
        table_for(
            info,
            objs,
            now=now,
            wide=output == "wide",
            all_namespaces=all_namespaces,
            with_kind=len(groups) > 1,
        )
        for info, objs in groups
        if objs
    ]
    typer.echo("\n\n".join(tables))


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="Kind, e.g. pod or deployment.")],
    names: Annotated[list[str] | None, typer.Argument(help="Names (all when omitted).")] = None,
    namespace: Namespace = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
) -> None:
    """Show objects in detail, with their events."""
    with _open() as store:
        info = store.scheme.resolve(kind)
        objs = _fetch(store, info, names or [], namespace or "default", selector, None)
        now = store.clock.now()
        texts = [describe_text(o, _events_for(store, o), now=now) for o in objs]
        typer.echo("\n\n\n".join(texts))


def _events_for(store: Store, obj: Obj) -> list[Obj]:
    uid = meta(obj).get("uid")
    ns = meta(obj).get("namespace") or "default"
    try:
        events = store.list("v1", "Event", namespace=ns).items
    except ShipyardError:
        return []
    return [
        e
        for e in events
        if isinstance(e.get("involvedObject"), dict) and e["involvedObject"].get("uid") == uid
    ]


@app.command()
def delete(
    kind: Annotated[str | None, typer.Argument(help="Kind, e.g. pod.")] = None,
    names: Annotated[list[str] | None, typer.Argument(help="Names.")] = None,
    files: Files = None,
    namespace: Namespace = None,
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
    cascade: Annotated[str, typer.Option(help="background|foreground|orphan")] = "background",
) -> None:
    """Delete objects by name, by selector, or those in manifests."""
    policy = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}.get(
        cascade
    )
    if policy is None:
        _usage(f'invalid --cascade "{cascade}": must be background, foreground or orphan')
    with _open() as store:
        targets = _delete_targets(store, kind, names or [], files or [], namespace, selector)
        failed = False
        for info, obj in targets:
            md = meta(obj)
            try:
                store.delete(
                    info.api_version,
                    info.kind,
                    md["name"],
                    namespace=md.get("namespace", "") if info.namespaced else "",
                    propagation_policy=str(policy),
                )
                typer.echo(
                    f"{info.singular}{'.' + info.group if info.group else ''} "
                    f'"{md["name"]}" deleted'
                )
            except NotFoundError as e:
                typer.echo(f"Error from server (NotFound): {e.message}", err=True)
                failed = True
        if failed:
            raise typer.Exit(1)


def _delete_targets(
    store: Store,
    kind: str | None,
    names: list[str],
    files: list[str],
    namespace: str | None,
    selector: str | None,
) -> list[tuple[KindInfo, Obj]]:
    if files:
        out = []
        for obj in _manifests(files):
            info = store.scheme.get(obj["apiVersion"], obj["kind"])
            md = obj.setdefault("metadata", {})
            if info.namespaced:
                md["namespace"] = md.get("namespace") or namespace or "default"
            out.append((info, obj))
        return out
    if not kind:
        _usage("You must provide one or more resources by argument or filename.")
    info = store.scheme.resolve(kind or "")
    if not names and not selector:
        _usage("resource(s) were provided, but no name was specified")
    ns = (namespace or "default") if info.namespaced else ""
    if names:
        return [(info, {"metadata": {"name": n, "namespace": ns}}) for n in names]
    listed = store.list(
        info.api_version,
        info.kind,
        namespace=ns if info.namespaced else None,
        label_selector=selector,
    )
    return [(info, o) for o in listed.items]


def _usage(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


Duration = Annotated[str, typer.Argument(help="Go duration: 30s, 5m, 1h30m.")]


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as e:
        _usage(str(e))
    return 0.0


@app.command("run-for")
def run_for(duration: Duration) -> None:
    """Advance the (virtual-time) cluster: every controller and kubelet runs for DURATION."""
    seconds = _seconds(duration)
    with _session() as session:
        session.run_for(seconds)
        pods = session.store.list("v1", "Pod").items
        phases: dict[str, int] = {}
        for pod in pods:
            phase = str((pod.get("status") or {}).get("phase") or "Unknown")
            phases[phase] = phases.get(phase, 0) + 1
        summary = ", ".join(f"{n} {p}" for p, n in sorted(phases.items())) or "no pods"
        typer.echo(
            f"advanced {format_duration(seconds)} to {format_time(session.clock.now())}: {summary}"
        )


rollout_app = typer.Typer(no_args_is_help=True, help="Manage the rollout of a Deployment.")
app.add_typer(rollout_app, name="rollout")
Target = Annotated[str, typer.Argument(help="deployment/NAME")]


def _deployment_name(target: str) -> str:
    kind, _, name = target.partition("/")
    if not name or kind.lower() not in (
        "deployment",
        "deployments",
        "deploy",
        "deployment.apps",
        "deployments.apps",
    ):
        _usage(f'expected deployment/NAME, got "{target}"')
    return name


@rollout_app.command("status")
def rollout_status_cmd(
    target: Target,
    namespace: Namespace = None,
    timeout: Annotated[str, typer.Option(help="How long to run the cluster waiting.")] = "10m",
    watch: Annotated[bool, typer.Option("--watch/--no-watch", "-w")] = True,
) -> None:
    """Show the rollout's progress, running the cluster until it completes (or --timeout)."""
    name, limit = _deployment_name(target), _seconds(timeout)
    with _session() as session:
        client = EmbeddedClient(session.store)
        ns = namespace or "default"
        done, message = rollout_status(client, ns, name)
        typer.echo(message)
        waited, last = 0.0, message
        while watch and not done and waited < limit:
            session.run_for(5)
            waited += 5
            done, message = rollout_status(client, ns, name)
            if message != last:
                typer.echo(message)
                last = message
        if not done:
            raise typer.Exit(1)


@rollout_app.command("history")
def rollout_history_cmd(target: Target, namespace: Namespace = None) -> None:
    """List the Deployment's revisions."""
    name = _deployment_name(target)
    with _session() as session:
        entries = rollout_history(EmbeddedClient(session.store), namespace or "default", name)
        typer.echo(f"deployment.apps/{name}")
        typer.echo(history_table(entries))


@rollout_app.command("undo")
def rollout_undo_cmd(
    target: Target,
    namespace: Namespace = None,
    to_revision: Annotated[int, typer.Option("--to-revision")] = 0,
) -> None:
    """Roll back to the previous revision (or --to-revision)."""
    name = _deployment_name(target)
    with _session() as session:
        client = EmbeddedClient(session.store)
        result = rollout_undo(client, namespace or "default", name, to_revision)
        typer.echo(f"deployment.apps/{name} {result}")
