"""A Pulumi stack of this program driven by the real CLI, as the owner would drive it.

Each stack works on a copy of the program in its own folder (so its `Pulumi.<stack>.yaml` and
anything the CLI writes stay out of the checkout) that uses the checkout's venv, with a local file
backend, the passphrase secrets provider and a PULUMI_HOME of its own: nothing is downloaded and
nothing outside the run's folder is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# What `pulumi up` runs: the program and what it imports, the project file.
# What a workflow's checkout also has and runs: the drift report.
PROGRAM = ("Pulumi.yaml", "__main__.py", "components", "settings", "incluster", "vendor", "scripts")
PASSPHRASE = "mailstack-e2e-passphrase"
# pulumi-cloudflare cannot be built here (e2e/tools/pulumi/cmd/pulumi-resource-cloudflare): every
# Cloudflare resource is left out of each update and preview.
EXCLUDE_CLOUDFLARE = ("--exclude", "**cloudflare:index/**")
UPDATE_TIMEOUT = 20 * 60


class PulumiError(Exception):
    def __init__(self, command: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"pulumi {' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )


@dataclass
class Stack:
    name: str
    workdir: Path
    env: dict[str, str]

    @classmethod
    def create(
        cls,
        name: str,
        workdir: Path,
        tools: str,
        kubeconfig: Path,
        extra_env: dict[str, str] | None = None,
    ) -> Stack:
        project = workdir / "project"
        project.mkdir(parents=True)
        for entry in PROGRAM:
            source = ROOT / entry
            if source.is_dir():
                shutil.copytree(
                    source, project / entry, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(source, project / entry)
        (project / "venv").symlink_to(ROOT / "venv")
        (project / "policy").symlink_to(ROOT / "policy")
        state = workdir / "state"
        state.mkdir()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULUMI_", "KUBECONFIG", "CLOUDFLARE_", "AUTHENTIK_"))
        }
        env.update(
            {
                "PATH": tools + os.pathsep + os.environ.get("PATH", ""),
                "PULUMI_HOME": str(workdir / "pulumi-home"),
                "PULUMI_BACKEND_URL": f"file://{state}",
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_SKIP_CONFIRMATIONS": "true",
                "KUBECONFIG": str(kubeconfig),
                **(extra_env or {}),
            }
        )
        stack = cls(name=name, workdir=project, env=env)
        stack.run("stack", "init", name, "--secrets-provider", "passphrase")
        return stack

    def run(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = UPDATE_TIMEOUT,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi <args>` in the project; on a timeout the CLI and its plugins are interrupted
        (as Ctrl-C would), then killed, so no provider outlives the run."""
        command = [*args, "--non-interactive"] if args[0] not in {"stack", "config"} else list(args)
        with subprocess.Popen(
            ["pulumi", *command],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    stdout, stderr = process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    stdout, stderr = process.communicate()
                raise PulumiError(
                    command,
                    subprocess.CompletedProcess(
                        command, -1, stdout, f"timed out after {timeout:.0f}s\n{stderr}"
                    ),
                ) from None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if result.returncode != 0:
            # The whole output, for when the tail in the error is not enough.
            log = self.workdir.parent / "failed-runs.log"
            with log.open("a") as out:
                out.write(f"=== pulumi {' '.join(command)}\n{stdout}\n--- stderr\n{stderr}\n")
        if check and result.returncode != 0:
            raise PulumiError(command, result)
        return result

    # --- configuration ---------------------------------------------------------------------

    def set(self, key: str, value: str, secret: bool = False) -> None:
        self.run(
            "config",
            "set",
            *(("--secret",) if secret else ("--plaintext",)),
            "--stack",
            self.name,
            key,
            value,
        )

    def set_secret_from_pipe(self, key: str, value: str) -> None:
        """`… | pulumi config set --secret <key>`: the value on standard input, as
        docs/how-to/adopt-the-old-system.md
        has the owner pipe it from a live Secret (never on a command line)."""
        self.run("config", "set", "--secret", "--stack", self.name, key, stdin=value)

    def set_path(self, key: str, value: object) -> None:
        """A structured value (list or object), written into the stack file as the owner does
        (the CLI sets structured values only one path at a time)."""
        path = self.workdir / f"Pulumi.{self.name}.yaml"
        document = yaml.safe_load(path.read_text()) if path.exists() else None
        document = document or {}
        document.setdefault("config", {})[key] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    def remove(self, key: str) -> None:
        self.run("config", "rm", "--stack", self.name, key)

    def configure(self, settings: dict[str, object], secrets: dict[str, str]) -> None:
        for key, value in settings.items():
            if isinstance(value, str):
                self.set(key, value)
            else:
                self.set_path(key, value)
        for key, value in secrets.items():
            self.set(key, value, secret=True)

    # --- operations ------------------------------------------------------------------------

    def up(
        self, *extra: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "up",
            "--yes",
            "--skip-preview",
            "--stack",
            self.name,
            *EXCLUDE_CLOUDFLARE,
            *extra,
            check=check,
            env=env,
        )

    def preview(
        self, *extra: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "preview", "--stack", self.name, *EXCLUDE_CLOUDFLARE, *extra, check=check, env=env
        )

    def destroy(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            "destroy", "--yes", "--skip-preview", "--stack", self.name, *extra, check=check
        )

    def export(self) -> dict[str, object]:
        return json.loads(self.run("stack", "export", "--stack", self.name).stdout)

    def outputs(self, show_secrets: bool = False) -> dict[str, object]:
        args = ["stack", "output", "--json", "--stack", self.name]
        if show_secrets:
            args.append("--show-secrets")
        return json.loads(self.run(*args).stdout)

    def resources(self) -> list[dict[str, object]]:
        deployment = self.export()["deployment"]
        assert isinstance(deployment, dict)
        return list(deployment.get("resources") or [])

    def urns(self, type_: str) -> list[str]:
        return [str(r["urn"]) for r in self.resources() if r["type"] == type_]
