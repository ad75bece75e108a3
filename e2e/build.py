"""Build the real tools `make e2e` runs, from the Go module proxy, into a cache outside the
checkout.

Each tool is a Go module of this project's own under `e2e/tools/<name>/` that requires the
upstream module at a pinned version (go.mod, go.sum) and names what to build. A tool's binaries go
to `<cache>/<name>-<key>/`, where the key hashes everything its build reads (its go.mod, go.sum and
sources, the Go version, this recipe); a finished build is marked complete last, so an interrupted
one is redone and a second run finds everything in seconds. The cache is
`$MAILSTACK_E2E_CACHE`, else `$XDG_CACHE_HOME/mailstack-e2e`, else `~/.cache/mailstack-e2e`.

    python -m e2e.build            build what is missing, print the PATH entries
    python -m e2e.build --check    exit 1 if anything is missing, build nothing
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent / "tools"
# Bumped when the recipe below changes in a way the key cannot see (a prepare step's body, flags).
RECIPE = "1"


class BuildError(Exception):
    """One line for the owner: which tool failed and why."""


@dataclass(frozen=True)
class Tool:
    name: str
    # output file name -> package to build (a path inside the module or an import path)
    binaries: dict[str, str]
    # -ldflags -X settings, from the module's resolved versions (see _ldflags)
    version_flags: Callable[[Path], list[str]] = lambda _dir: []
    # run before building, in the module's directory (e.g. write files upstream generates)
    prepare: Callable[[Path], None] | None = None
    # files copied from a required module into the output: (module path, file inside it)
    copies: tuple[tuple[str, str], ...] = field(default=())


def module_version(module_dir: Path, module: str) -> str:
    return _go(module_dir, "list", "-m", "-f", "{{.Version}}", module).strip()


def module_path(module_dir: Path, module: str) -> Path:
    out = _go(module_dir, "mod", "download", "-json", module)
    return Path(json.loads(out)["Dir"])


def _pulumi_flags(module_dir: Path) -> list[str]:
    version = module_version(module_dir, "github.com/pulumi/pulumi/pkg/v3")
    return [f"github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}"]


def _kubernetes_flags(module_dir: Path) -> list[str]:
    version = module_version(module_dir, "k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    base = "k8s.io/component-base/version"
    return [
        f"{base}.gitVersion={version}",
        f"{base}.gitMajor={major}",
        f"{base}.gitMinor={minor}",
        f"{base}.gitTreeState=clean",
    ]


# The provider module's only served version is the commit of its v4.25.0 release tag.
KUBERNETES_PROVIDER_VERSION = "4.25.0"


def _kubernetes_provider_flags(_module_dir: Path) -> list[str]:
    return [
        "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
        + KUBERNETES_PROVIDER_VERSION
    ]


def _kubernetes_provider_embeds(module_dir: Path) -> None:
    """Write what upstream's `go generate` writes: the schema with its version, the mapping."""
    source = module_path(module_dir, "github.com/pulumi/pulumi-kubernetes/provider/v4")
    command = source / "cmd" / "pulumi-resource-kubernetes"
    schema = json.loads((command / "schema.json").read_text())
    schema["version"] = KUBERNETES_PROVIDER_VERSION
    (module_dir / "schema-embed.json").write_text(json.dumps(schema))
    mapping = json.loads((command / "terraform-mapping.json").read_text())
    (module_dir / "terraform-mapping-embed.json").write_text(json.dumps(mapping))


TOOLS: tuple[Tool, ...] = (
    Tool(
        "pulumi",
        {
            "pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            "pulumi-language-python": "./cmd/pulumi-language-python",
            "pulumi-resource-random": "./cmd/pulumi-resource-random",
            "pulumi-resource-cloudflare": "./cmd/pulumi-resource-cloudflare",
        },
        version_flags=_pulumi_flags,
        # The Python SDK's exec shim (the language host runs the program through it) and the
        # dynamic-provider launcher (the Authentik resources), as the CLI's release ships them.
        copies=(
            ("github.com/pulumi/pulumi/sdk/v3", "python/cmd/pulumi-language-python-exec"),
            ("github.com/pulumi/pulumi/sdk/v3", "python/dist/pulumi-resource-pulumi-python"),
        ),
    ),
    Tool(
        "kubernetes-provider",
        {"pulumi-resource-kubernetes": "."},
        version_flags=_kubernetes_provider_flags,
        prepare=_kubernetes_provider_embeds,
    ),
    Tool(
        "kubernetes",
        {
            name: f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        },
        version_flags=_kubernetes_flags,
    ),
    Tool("etcd", {"etcd": "go.etcd.io/etcd/server/v3"}),
    Tool(
        "kwok",
        {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        # The stages kwokctl gives kwok by default: nodes become Ready, pods Running and Ready,
        # Jobs' pods Succeeded, deleted pods go away.
        copies=tuple(
            ("sigs.k8s.io/kwok", f"kustomize/stage/{stage}.yaml")
            for stage in (
                "node/fast/node-initialize",
                "pod/fast/pod-ready",
                "pod/fast/pod-complete",
                "pod/fast/pod-delete",
            )
        ),
    ),
)


def cache_root() -> Path:
    explicit = os.environ.get("MAILSTACK_E2E_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mailstack-e2e"


def _go(module_dir: Path, *args: str) -> str:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    result = subprocess.run(
        ["go", *args], cwd=module_dir, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BuildError(f"e2e/tools/{module_dir.name}: go {' '.join(args[:2])}: {last}")
    return result.stdout


def go_version() -> str:
    if shutil.which("go") is None:
        raise BuildError(
            "Go is needed (https://go.dev/dl/, or Debian's golang): the Pulumi CLI, its plugins "
            "and the Kubernetes control plane are built from the Go module proxy"
        )
    return subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()


def key(tool: Tool, go: str) -> str:
    """A hash of everything the tool's build reads from this checkout, and the Go version."""
    recipe = (RECIPE, go, tool.binaries, tool.copies, tool.prepare and tool.prepare.__name__)
    digest = hashlib.sha256(repr(recipe).encode())
    module_dir = TOOLS_DIR / tool.name
    for path in sorted(module_dir.rglob("*")):
        if path.is_file() and not path.name.endswith("-embed.json"):
            digest.update(str(path.relative_to(module_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def output_dir(tool: Tool, go: str) -> Path:
    return cache_root() / f"{tool.name}-{key(tool, go)}"


def build(tool: Tool, go: str, log: Callable[[str], None]) -> Path:
    out = output_dir(tool, go)
    if (out / ".complete").exists():
        return out
    module_dir = TOOLS_DIR / tool.name
    log(f"building {tool.name} (once; cached in {out})")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if tool.prepare is not None:
        tool.prepare(module_dir)
    ldflags = " ".join(["-s", "-w", *(f"-X {flag}" for flag in tool.version_flags(module_dir))])
    for binary, package in tool.binaries.items():
        _go(
            module_dir,
            "build",
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            str(staging / binary),
            package,
        )
    for module, inside in tool.copies:
        source = module_path(module_dir, module) / inside
        target = staging / Path(inside).name
        shutil.copyfile(source, target)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IRUSR)
    (staging / ".complete").write_text(tool.name + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def main(argv: list[str]) -> int:
    check_only = argv == ["--check"]
    try:
        go = go_version()
        dirs = []
        for tool in TOOLS:
            if check_only:
                if not (output_dir(tool, go) / ".complete").exists():
                    print(f"e2e tool not built: {tool.name}", file=sys.stderr)
                    return 1
                dirs.append(output_dir(tool, go))
            else:
                dirs.append(build(tool, go, lambda line: print(line, file=sys.stderr)))
    except BuildError as err:
        print(f"make e2e: {err}", file=sys.stderr)
        return 2
    print(os.pathsep.join(str(d) for d in dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
