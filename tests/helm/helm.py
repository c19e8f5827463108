"""A `helm` executable for Plumbline's tests: `helm template` and `helm version`
of Helm v4.2.3, on the Helm SDK compiled into PyPI `helm-python-sdk` 0.2.2
(`libhelm_c.so`, helm-c-sdk 0.2.2 over `helm.sh/helm/v4 v4.2.3`).

The library does Helm's own chart loading, dependency processing (conditions,
tags, aliases, import-values), values coalescing, `values.schema.json`
validation and template engine. What `helm template` does around the engine is
ported here from Helm v4.2.3 (`pkg/cmd/template.go`, `pkg/cli/values/options.go`,
`pkg/action/install.go`, `pkg/action/action.go:renderResources`,
`pkg/release/v1/util/manifest.go`, `manifest_sorter.go`, `kind_sorter.go`):
the chart's `kubeVersion` check, NOTES.txt dropped, partials and blank files
skipped, the `---` split, hooks set apart (unknown hook types dropped), the
stable sort by install order, `--include-crds`, the `# Source:` headers and
the hooks appended after the manifests.

Only local charts (a directory or a `.tgz`) are rendered: this executable
never reaches a network. See tests/helm/README.md.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import helm_python
from helm_python import _native

from semver import SemverError, Version, constraint_matches

NOTES_SUFFIX = "NOTES.txt"
HOOK_ANNOTATION = "helm.sh/hook"
#: `pkg/release/v1/util/manifest_sorter.go` `events`, with Helm 2's `test-success`.
HOOK_EVENTS = {
    "pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade",
    "post-upgrade", "pre-rollback", "post-rollback", "test", "test-success",
}
TEST_EVENTS = {"test", "test-success"}
#: `pkg/release/v1/util/kind_sorter.go` `InstallOrder`.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
#: Go's RE2 `\s` is ASCII whitespace without `\v`.
SPLIT = re.compile(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")
DEBUG_HINT = "\n\nUse --debug flag to render out invalid YAML"


class HelmCommandError(Exception):
    """An error `helm` prints as `Error: <message>` with exit status 1."""


# --- command line ------------------------------------------------------------

#: Flags of `helm template` that take a value, and whether they repeat
#: (StringArray: each occurrence is one item) or split on commas (StringSlice).
VALUE_FLAGS = {
    "--namespace": "one", "-n": "one", "--values": "array", "-f": "array",
    "--set": "array", "--set-string": "array", "--set-json": "array",
    "--set-file": "array", "--set-literal": "array", "--kube-version": "one",
    "--api-versions": "slice", "-a": "slice", "--version": "one",
    "--name-template": "one", "--description": "one",
}
BOOL_FLAGS = {
    "--include-crds", "--skip-tests", "--skip-crds", "--no-hooks", "--is-upgrade",
    "--skip-schema-validation", "--devel", "--generate-name", "-g", "--debug",
    "--dependency-update", "--create-namespace",
}
CANONICAL = {"-n": "--namespace", "-f": "--values", "-a": "--api-versions", "-g": "--generate-name"}


def parse_flags(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Split `args` into positionals and flags, the way cobra/pflag reads them."""
    positionals: list[str] = []
    flags: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            positionals.extend(args[index:])
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name in BOOL_FLAGS:
            flags[CANONICAL.get(name, name)] = not has_value or value.lower() in ("true", "1")
            continue
        if name not in VALUE_FLAGS:
            raise HelmCommandError(f"unknown flag: {name}")
        if not has_value:
            if index >= len(args):
                raise HelmCommandError(f"flag needs an argument: {name}")
            value = args[index]
            index += 1
        kind = VALUE_FLAGS[name]
        key = CANONICAL.get(name, name)
        if kind == "one":
            flags[key] = value
        elif kind == "array":
            flags.setdefault(key, []).append(value)
        else:
            flags.setdefault(key, []).extend(v for v in value.split(",") if v)
    return positionals, flags


# --- values (pkg/cli/values/options.go) --------------------------------------


def merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's `mergeMaps`: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def read_values_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") if path.strip() != "-" else sys.stdin as handle:
            text = handle.read()
    except OSError as error:
        raise HelmCommandError(f"open {path}: {error.strerror.lower()}") from error
    try:
        return helm_python.values_from_yaml(text)
    except helm_python.HelmError as error:
        raise HelmCommandError(f"failed to parse {path}: {error}") from error


#: The --set family in the order Helm applies them, with the library call
#: that parses each.
SET_FLAGS = [
    ("--set-json", "helm_strvals_parse_json"),
    ("--set", "helm_strvals_parse"),
    ("--set-string", "helm_strvals_parse_string"),
    ("--set-file", "helm_strvals_parse_file"),
    ("--set-literal", "helm_strvals_parse_literal"),
]


def user_values(flags: dict[str, Any]) -> dict[str, Any]:
    """`-f` files, then the `--set` family, merged as `MergeValues` does.

    Helm parses each `--set` expression into the values so far
    (`strvals.ParseInto`); here each is parsed on its own and merged, which is
    the same except for list indexes (`a[1]=x` replaces the list).
    """
    base: dict[str, Any] = {}
    for path in flags.get("--values", []):
        base = merge_maps(base, read_values_file(path))
    for flag, function in SET_FLAGS:
        for expression in flags.get(flag, []):
            try:
                parsed = json.loads(_native.call_string(function, expression))
            except helm_python.HelmError as error:
                raise HelmCommandError(f"failed parsing {flag} data: {error}") from error
            base = merge_maps(base, parsed)
    return base


# --- manifests (pkg/release/v1/util) -----------------------------------------


def split_manifests(text: str) -> list[str]:
    """`SplitManifests`: documents in file order, each left-trimmed."""
    documents = SPLIT.split(text.lstrip())
    return [d.lstrip() for d in documents if d != ""]


def document_head(path: str, document: str) -> dict[str, Any]:
    """`SimpleHead` of a document: kind, name and annotations."""
    try:
        parsed = helm_python.values_from_yaml(document) if document.strip() else {}
    except helm_python.HelmError as error:
        raise HelmCommandError(f"YAML parse error on {path}: {error}") from error
    metadata = parsed.get("metadata") if isinstance(parsed, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    annotations = metadata.get("annotations")
    return {
        "kind": parsed.get("kind", "") if isinstance(parsed, dict) else "",
        "annotations": annotations if isinstance(annotations, dict) else {},
    }


def kind_rank(kind: str) -> tuple[int, str]:
    """Sort key of `lessByKind`: install order, unknown kinds last by name."""
    if kind in INSTALL_ORDER:
        return (INSTALL_ORDER.index(kind), "")
    return (len(INSTALL_ORDER), kind)


def sort_manifests(files: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`SortManifests`: (hooks, manifests), each stably sorted by kind."""
    hooks: list[dict[str, Any]] = []
    manifests: list[dict[str, Any]] = []
    for path in sorted(files):
        content = files[path]
        if os.path.basename(path).startswith("_") or content.strip() == "":
            continue
        for document in split_manifests(content):
            head = document_head(path, document)
            entry = {"path": path, "content": document, "kind": head["kind"]}
            hook_types = head["annotations"].get(HOOK_ANNOTATION)
            if hook_types is None:
                manifests.append(entry)
                continue
            events = [t.strip().lower() for t in str(hook_types).split(",")]
            if any(event not in HOOK_EVENTS for event in events):
                continue  # Helm skips unknown hook types.
            entry["events"] = events
            hooks.append(entry)
    hooks.sort(key=lambda h: kind_rank(h["kind"]))
    manifests.sort(key=lambda m: kind_rank(m["kind"]))
    return hooks, manifests


# --- helm template -------------------------------------------------------------


def kube_version(flags: dict[str, Any]) -> str | None:
    """`--kube-version` as Helm keeps it: `v` prefixed, the user's spelling."""
    given = flags.get("--kube-version")
    if not given:
        return None
    spelled = given if given.startswith("v") else "v" + given
    try:
        Version.parse(spelled)
    except SemverError as error:
        raise HelmCommandError(f"invalid kube version '{given}': {error}") from error
    return spelled


def locate_chart(reference: str) -> str:
    """`LocateChart` for local charts; anything else is out of this executable's reach."""
    if os.path.exists(reference):
        return os.path.abspath(reference)
    if reference.startswith("oci://") or "://" in reference:
        raise HelmCommandError(
            f"this test helm renders local charts only, not {reference} "
            "(Plumbline fetches charts itself)"
        )
    raise HelmCommandError(f'path "{reference}" not found')


def check_dependencies(chart: helm_python.Chart) -> None:
    """`action.CheckDependencies`: every declared dependency is under charts/."""
    declared = chart.metadata.get("dependencies") or []
    present = {d.get("name") for d in chart.dependencies}
    missing = [d.get("name") for d in declared if d.get("name") not in present]
    if missing:
        raise HelmCommandError(
            "An error occurred while checking for chart dependencies. You may need to run "
            "`helm dependency build` to fetch missing dependencies: found in Chart.yaml, "
            f"but missing in charts/ directory: {', '.join(missing)}"
        )


def template(args: list[str]) -> str:
    positionals, flags = parse_flags(args)
    if len(positionals) == 1:
        name, reference = "release-name", positionals[0]
    elif len(positionals) == 2:
        name, reference = positionals
    elif not positionals:
        raise HelmCommandError('"helm template" requires at least 1 argument')
    else:
        raise HelmCommandError(f"expected at most two arguments, unexpected arguments: {' '.join(positionals[2:])}")
    try:
        helm_python.validate_release_name(name)
    except helm_python.HelmError as error:
        raise HelmCommandError(str(error)) from error
    version = kube_version(flags)
    values = user_values(flags)
    with helm_python.Chart.load(locate_chart(reference)) as chart:
        metadata = chart.metadata
        if metadata.get("type") not in (None, "", "application"):
            raise HelmCommandError(f"{metadata.get('type')} charts are not installable")
        check_dependencies(chart)
        options: dict[str, Any] = {
            "name": name,
            "namespace": flags.get("--namespace") or "default",
            "revision": 1,
            "is_install": not flags.get("--is-upgrade", False),
            "is_upgrade": bool(flags.get("--is-upgrade", False)),
        }
        if version:
            options["kube_version"] = version
        if flags.get("--api-versions"):
            options["api_versions"] = flags["--api-versions"]
        try:
            files = json.loads(
                _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
            )
        except helm_python.HelmValuesError as error:
            raise HelmCommandError(str(error).rstrip("\n")) from error
        except helm_python.HelmError as error:
            check_kube_version(metadata, version)
            raise HelmCommandError(str(error).rstrip("\n") + DEBUG_HINT) from error
        check_kube_version(metadata, version)
        crds = chart.crds if flags.get("--include-crds") else []
    return format_output(files, crds, skip_tests=flags.get("--skip-tests", False), no_hooks=flags.get("--no-hooks", False))


def check_kube_version(metadata: dict[str, Any], version: str | None) -> None:
    """The chart's `kubeVersion` constraint against the capabilities' version."""
    wanted = metadata.get("kubeVersion")
    effective = version or "v1.36.0"
    if wanted and not constraint_matches(wanted, effective):
        raise HelmCommandError(
            f"chart requires kubeVersion: {wanted} which is incompatible with Kubernetes {effective}"
            + DEBUG_HINT
        )


def format_output(files: dict[str, str], crds: list[dict[str, str]], *, skip_tests: bool, no_hooks: bool) -> str:
    """The manifest text `helm template` prints."""
    files = {path: text for path, text in files.items() if not path.endswith(NOTES_SUFFIX)}
    hooks, manifests = sort_manifests(files)
    body = "".join(f"---\n# Source: {c['filename']}\n{c['data']}\n" for c in crds)
    body += "".join(f"---\n# Source: {m['path']}\n{m['content']}\n" for m in manifests)
    out = body.strip() + "\n"
    if not no_hooks:
        for hook in hooks:
            if skip_tests and any(e in TEST_EVENTS for e in hook["events"]):
                continue
            out += f"---\n# Source: {hook['path']}\n{hook['content']}\n"
    return out


# --- helm version --------------------------------------------------------------


def build_info() -> dict[str, str]:
    """`version.BuildInfo` of the Helm compiled into the library."""
    go_version, client_go = go_build_info(str(_native.library_path))
    return {
        "Version": helm_python.helm_sdk_version(),
        "GitCommit": "",
        "GitTreeState": "",
        "GoVersion": go_version,
        "KubeClientVersion": client_go,
    }


def go_build_info(path: str) -> tuple[str, str]:
    """Go version and client-go minor (`v1.36`) from the library's Go build info."""
    with open(path, "rb") as handle:
        data = handle.read()
    start = data.find(b"\xff Go buildinf:")
    if start < 0:
        return "", ""
    cursor = start + 32
    strings = []
    for _ in range(2):
        length, shift = 0, 0
        while True:
            byte = data[cursor]
            cursor += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        strings.append(data[cursor:cursor + length].decode("utf-8", "replace"))
        cursor += length
    match = re.search(r"\tk8s\.io/client-go\tv0\.(\d+)\.", strings[1])
    return strings[0], f"v1.{match.group(1)}" if match else ""


def version(args: list[str]) -> str:
    short = "--short" in args
    template_arg = next((a.split("=", 1)[1] for a in args if a.startswith("--template=")), None)
    if "--template" in args:
        position = args.index("--template")
        template_arg = args[position + 1] if position + 1 < len(args) else ""
    info = build_info()
    if template_arg:
        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: info.get(m.group(1), ""), template_arg)
    if short:
        return info["Version"] + "\n"
    fields = ", ".join(f'{key}:"{value}"' for key, value in info.items())
    return f"version.BuildInfo{{{fields}}}\n"


# --- package, repo index, push ----------------------------------------------
# What tests need to publish charts the way Helm does: archives packaged by
# Helm's own `helm package` code, indexes written by its `helm repo index`,
# OCI artifacts pushed by its registry client (Helm's media types).


def option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` in `args`."""
    for position, arg in enumerate(args):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and position + 1 < len(args):
            return args[position + 1]
    return None


def positional(args: list[str], with_values: set[str]) -> list[str]:
    """`args` without flags (and the values of the flags in `with_values`)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_values:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def package(args: list[str]) -> str:
    """`helm package CHART [-d DIR] [--version V] [--app-version V]`."""
    charts = positional(args, {"-d", "--destination", "--version", "--app-version"})
    if len(charts) != 1:
        raise HelmCommandError("helm package takes one chart directory")
    destination = option(args, "--destination") or option(args, "-d") or "."
    try:
        archive = helm_python.package(
            charts[0],
            destination=destination,
            version=option(args, "--version"),
            app_version=option(args, "--app-version"),
        )
    except helm_python.HelmError as error:
        raise HelmCommandError(str(error)) from error
    return f"Successfully packaged chart and saved it to: {archive}\n"


def repo(args: list[str]) -> str:
    """`helm repo index DIR [--url URL] [--merge FILE]`."""
    if not args or args[0] != "index":
        raise HelmCommandError("this test helm has only `helm repo index`")
    directories = positional(args[1:], {"--url", "--merge"})
    if len(directories) != 1:
        raise HelmCommandError("helm repo index takes one directory")
    try:
        helm_python.repo_index_generate(
            directories[0], base_url=option(args, "--url"), merge=option(args, "--merge")
        )
    except helm_python.HelmError as error:
        raise HelmCommandError(str(error)) from error
    return ""


def push(args: list[str]) -> str:
    """`helm push CHART.tgz oci://host/path [--plain-http]`."""
    operands = positional(args, set())
    if len(operands) != 2:
        raise HelmCommandError("helm push takes a chart archive and an oci:// remote")
    try:
        pushed = helm_python.push(
            operands[0], operands[1], plain_http="--plain-http" in args
        )
    except helm_python.HelmError as error:
        raise HelmCommandError(str(error)) from error
    return str(pushed.get("output", ""))


def pull(args: list[str]) -> str:
    """`helm pull CHART [--repo URL] [--version V] [-d DIR] [--untar] [--untardir DIR]
    [--plain-http]` (what `kustomize --enable-helm` runs for a `helmCharts` entry with `repo`)."""
    with_values = {"--repo", "--version", "-d", "--destination", "--untardir"}
    charts = positional(args, with_values)
    if len(charts) != 1:
        raise HelmCommandError("helm pull takes one chart")
    try:
        pulled = helm_python.pull(
            charts[0],
            destination=option(args, "--destination") or option(args, "-d"),
            version=option(args, "--version"),
            repo_url=option(args, "--repo"),
            untar="--untar" in args,
            untar_dir=option(args, "--untardir"),
            plain_http="--plain-http" in args,
        )
    except helm_python.HelmError as error:
        raise HelmCommandError(str(error)) from error
    return str(pulled.get("output", ""))


def main(argv: list[str]) -> int:
    commands = {
        "template": template,
        "version": version,
        "package": package,
        "repo": repo,
        "push": push,
        "pull": pull,
    }
    if not argv or argv[0] not in commands:
        given = argv[0] if argv else ""
        names = ", ".join(commands)
        print(f'Error: unknown command "{given}" for "helm" (this test helm has: {names})', file=sys.stderr)
        return 1
    try:
        sys.stdout.write(commands[argv[0]](argv[1:]))
    except HelmCommandError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
