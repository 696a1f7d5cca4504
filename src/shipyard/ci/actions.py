"""Built-in actions: the registry a ``uses: owner/repo@ref`` step is looked up in.

Design
------
Shipyard does not download actions. An action is available when it is registered by name
(``actions/checkout``) in an :class:`ActionRegistry`; it then runs in process as a
:class:`BuiltinAction`: it declares its inputs (with defaults, which may be ``${{ }}``
templates such as ``${{ github.token }}``) and gets an :class:`ActionContext` with the
evaluated inputs, the step's environment (``INPUT_<NAME>`` included, as for any action), the
workspace, and the means to set outputs, export variables, add to ``PATH``, register masks,
log and run commands through the job's executor (so cancellation and the step timeout stop
them). An action fails by raising a ``ShipyardError``; the message becomes the step's error.

Adding an action later (``aws-actions/configure-aws-credentials``, ``docker/login-action``…) is
one ``registry.add(MyAction())`` in the wiring; nothing registers itself on import.
:func:`default_actions` returns a registry holding ``actions/checkout``.

``actions/checkout`` copies the run's repository at ``github.sha`` (or ``with.ref``) into
``GITHUB_WORKSPACE/<path>`` with ``git``: ``git init``, a fetch from the repository checkout
(``--depth`` from ``fetch-depth``; ``0`` fetches every branch and tag), then the branch checked
out with ``-B`` tracking ``origin/<branch>`` for a branch ref, or a detached commit otherwise —
the layout GitHub's checkout action leaves. ``origin`` is the repository checkout itself, so
``git push`` from a step goes back to it. An existing clone at the path is fetched into and
(with ``clean: true``) cleaned; another non-empty directory there is emptied first, as the
action does. When the path *is* the repository checkout (the workspace is the repository),
it is used as it is. Deliberate differences: only the run's own repository can be checked
out (``repository:`` naming another one fails), and credentials, LFS, submodules and sparse
checkout inputs are accepted and ignored.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shipyard.ci.executor import Cancellation, Executor
from shipyard.ci.masking import SecretMasker
from shipyard.core.errors import BadRequestError

__all__ = [
    "ActionContext",
    "ActionError",
    "ActionInput",
    "ActionRegistry",
    "BuiltinAction",
    "Checkout",
    "default_actions",
]


class ActionError(BadRequestError):
    """A built-in action failed; the message is shown as the step's error."""


@dataclass(frozen=True)
class ActionInput:
    """One input an action declares; ``default`` may be a ``${{ }}`` template."""

    name: str
    default: str = ""
    required: bool = False


class BuiltinAction(Protocol):
    """An action that runs in process. ``name`` is ``owner/repo`` (or ``owner/repo/path``)."""

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> Sequence[ActionInput]: ...

    def run(self, ctx: ActionContext) -> None:
        """Do the action's work; raise a ShipyardError to fail the step."""
        ...


@dataclass
class ActionContext:
    """What a built-in action sees and can do while its step runs."""

    inputs: Mapping[str, str]
    env: Mapping[str, str]
    workspace: Path
    repository_root: Path
    github: Mapping[str, object]
    masker: SecretMasker
    executor: Executor
    cancel: Cancellation
    log: Callable[[str], None]
    timeout: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    exported: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)

    def input(self, name: str) -> str:
        """The input's value (names are case-insensitive, as on GitHub); ``""`` when unset."""
        folded = name.lower()
        return next((v for k, v in self.inputs.items() if k.lower() == folded), "")

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value

    def export_variable(self, name: str, value: str) -> None:
        """Set ``name`` for this job's later steps (``GITHUB_ENV``)."""
        self.exported[name] = value

    def add_path(self, directory: str) -> None:
        """Prepend ``directory`` to ``PATH`` for the later steps (``GITHUB_PATH``)."""
        self.path.append(directory)

    def add_mask(self, value: str) -> None:
        self.masker.add(value)

    def run(
        self, argv: Sequence[str], *, cwd: Path | None = None, quiet: bool = False
    ) -> list[str]:
        """Run a command through the job's executor; its lines (logged unless ``quiet``) are
        returned. Raises ActionError when it fails or is stopped."""
        lines: list[str] = []

        def on_line(text: str) -> None:
            lines.append(text)
            if not quiet:
                self.log(text)

        result = self.executor.run(
            argv,
            env=self.env,
            cwd=cwd or self.workspace,
            on_line=on_line,
            cancel=self.cancel,
            timeout=self.timeout,
        )
        if result.stopped:
            raise ActionError(f"{argv[0]} was stopped ({result.stopped})")
        if result.exit_code != 0:
            tail = "; ".join(lines[-3:])
            raise ActionError(
                f"{' '.join(argv[:3])} failed with exit code {result.exit_code}"
                + (f": {tail}" if tail else "")
            )
        return lines


class ActionRegistry:
    """The built-in actions by name; lookups ignore case and the ``@ref``."""

    def __init__(self, actions: Sequence[BuiltinAction] = ()) -> None:
        self._actions: dict[str, BuiltinAction] = {}
        for action in actions:
            self.add(action)

    def add(self, action: BuiltinAction) -> None:
        """Register ``action`` under its name (replacing one of the same name)."""
        self._actions[action.name.lower()] = action

    def get(self, uses: str) -> BuiltinAction | None:
        """The action for ``uses`` (``owner/repo@ref`` or ``owner/repo/path@ref``), if any."""
        name = uses.split("@", 1)[0].strip().lower()
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(action.name for action in self._actions.values())

    def __contains__(self, uses: object) -> bool:
        return isinstance(uses, str) and self.get(uses) is not None

    def __iter__(self) -> Iterator[BuiltinAction]:
        return iter(list(self._actions.values()))


def default_actions() -> ActionRegistry:
    """A registry with Shipyard's built-in actions: ``actions/checkout``."""
    return ActionRegistry([Checkout()])


_IGNORED_CHECKOUT_INPUTS = (
    "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user", "persist-credentials",
    "filter", "sparse-checkout", "sparse-checkout-cone-mode", "show-progress", "lfs",
    "submodules", "set-safe-directory", "github-server-url", "fetch-tags",
)  # fmt: skip


class Checkout:
    """``actions/checkout``: the run's repository into the workspace, with git."""

    name = "actions/checkout"
    inputs: tuple[ActionInput, ...] = (
        ActionInput("repository", "${{ github.repository }}"),
        ActionInput("ref"),
        ActionInput("path"),
        ActionInput("clean", "true"),
        ActionInput("fetch-depth", "1"),
        *(ActionInput(name) for name in _IGNORED_CHECKOUT_INPUTS),
    )

    def run(self, ctx: ActionContext) -> None:
        self._check_repository(ctx)
        target = _target(ctx)
        root = ctx.repository_root.resolve()
        if target.resolve() == root:
            ctx.log(f"The workspace is the repository itself ({root}); using it as it is")
            head = ctx.run(["git", "rev-parse", "HEAD"], cwd=root, quiet=True)
            ctx.set_output("commit", head[-1].strip() if head else "")
            ctx.set_output("ref", str(ctx.github.get("ref") or ""))
            return
        ref, sha = _revision(ctx, root)
        _prepare(ctx, target, clean=ctx.input("clean").lower() != "false")
        depth = _depth(ctx.input("fetch-depth"))
        self._fetch(ctx, target, root, ref=ref, sha=sha, depth=depth)
        self._switch(ctx, target, ref, sha)
        ctx.set_output("ref", ref)
        ctx.set_output("commit", sha)

    @staticmethod
    def _check_repository(ctx: ActionContext) -> None:
        wanted = ctx.input("repository").strip()
        own = str(ctx.github.get("repository") or "")
        if wanted and own and wanted.lower() != own.lower():
            raise ActionError(
                f"checking out another repository ({wanted}) is not available in Shipyard: "
                f"actions/checkout can check out only the run's repository ({own})"
            )

    @staticmethod
    def _fetch(
        ctx: ActionContext, target: Path, root: Path, *, ref: str, sha: str, depth: int
    ) -> None:
        git = ["git", "-C", str(target)]
        if not (target / ".git").exists():
            ctx.run([*git, "init", "-q"], quiet=True)
            ctx.run([*git, "remote", "add", "origin", root.as_uri()], quiet=True)
        # Fetching a commit by id needs the upload side to allow it; `-c` reaches the local
        # upload-pack through the environment git passes to it.
        fetch = [*git, "-c", "uploadpack.allowAnySHA1InWant=true", "-c", "protocol.version=2"]
        fetch += ["fetch", "--no-tags", "--prune", "--no-recurse-submodules", "--quiet"]
        fetch += [f"--depth={depth}"] if depth > 0 else []
        refspecs = [f"+{sha}:{_tracking(ref)}" if _branch(ref) else sha]
        if depth == 0:
            refspecs += ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        ctx.run([*fetch, "origin", *refspecs])

    @staticmethod
    def _switch(ctx: ActionContext, target: Path, ref: str, sha: str) -> None:
        git = ["git", "-C", str(target)]
        branch = _branch(ref)
        if branch:
            ctx.run([*git, "checkout", "--quiet", "--force", "-B", branch, _tracking(ref)])
        else:
            ctx.run([*git, "checkout", "--quiet", "--force", "--detach", sha])
        ctx.log(f"Checked out {ref or sha} at {sha} into {target}")


def _target(ctx: ActionContext) -> Path:
    workspace = ctx.workspace.resolve()
    target = (workspace / ctx.input("path")).resolve()
    if target != workspace and workspace not in target.parents:
        raise ActionError(
            f"Repository path '{target}' is not under '{workspace}': give a path inside "
            "the workspace"
        )
    return target


def _revision(ctx: ActionContext, root: Path) -> tuple[str, str]:
    """The ref to check out and its commit, resolved in the repository checkout."""
    wanted = ctx.input("ref").strip()
    if not wanted:
        ref, sha = str(ctx.github.get("ref") or ""), str(ctx.github.get("sha") or "")
        if sha:
            return ref, sha
        wanted = ref or "HEAD"
    else:
        ref = _qualified(ctx, root, wanted)
    lines = ctx.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref or wanted}^{{commit}}"],
        cwd=root,
        quiet=True,
    )
    return ref, lines[-1].strip()


def _qualified(ctx: ActionContext, root: Path, ref: str) -> str:
    """``main`` → ``refs/heads/main``, ``v1`` → ``refs/tags/v1``; a commit id stays as is."""
    if ref.startswith("refs/"):
        return ref
    for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
        try:
            ctx.run(["git", "show-ref", "--verify", "--quiet", candidate], cwd=root, quiet=True)
        except ActionError:
            continue
        return candidate
    return ref


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""


def _tracking(ref: str) -> str:
    return f"refs/remotes/origin/{_branch(ref)}"


def _depth(text: str) -> int:
    try:
        depth = int(text.strip() or "1")
    except ValueError as err:
        raise ActionError(f"fetch-depth must be a whole number, got {text!r}") from err
    if depth < 0:
        raise ActionError(f"fetch-depth must be 0 or more, got {depth}")
    return depth


def _prepare(ctx: ActionContext, target: Path, *, clean: bool) -> None:
    if (target / ".git").exists():
        if clean:
            ctx.run(["git", "-C", str(target), "clean", "-ffdx", "--quiet"], quiet=True)
        return
    if target.exists() and any(target.iterdir()):
        ctx.log(f"Deleting the contents of '{target}'")
        for entry in target.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    os.makedirs(target, exist_ok=True)
