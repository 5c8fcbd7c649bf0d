"""Guards on the shape of the code base (issue 10), read from the source's AST.

* the core (``voiceadapters/``) names no provider: providers are plugins;
* no import cycle within the core, a plugin package or the conformance suite;
* registering a provider is cheap, and so is the client side of a session:
  checked in a fresh interpreter, by the modules it imported (speed itself
  is measured in the bench, not asserted here).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "voiceadapters"

#: Names of the first-party providers, which the core must not know about.
#: "openai" (and "azure") are not here yet, though the OpenAI Realtime plugin
#: is first-party: "OpenAI" names a protocol as well as a vendor, and a bridge
#: front speaking that protocol (the core serving OpenAI-Realtime clients) may
#: come, which would name it in the core legitimately. Decide when it does.
PROVIDER_WORDS = ("vatel", "nextevi", "binary-pcm", "binary_pcm", "workbuddy", "deepgram")

#: Every first-party plugin: provider name → its package.
PLUGINS = {
    "vatel": "voiceadapters_vatel",
    "binary-pcm": "voiceadapters_binary_pcm",
    "nextevi": "voiceadapters_nextevi",
    "example": "voiceadapters_example",
    "deepgram": "voiceadapters_deepgram",
    # One package, three providers (openai, azure-openai, openai-compatible):
    # the imports checked are the package's, so one name stands for all.
    "openai": "voiceadapters_openai",
}


def python_files(package_dir: Path) -> list[Path]:
    return sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path, package_dir: Path) -> str:
    """``voiceadapters/simulator/base.py`` → ``voiceadapters.simulator.base``."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# -- a. the core names no provider ------------------------------------------------------


def docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the docstring constants (module, class, function): prose, not code."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def names_in_code(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """``(line, kind, text)`` for every identifier, import and string constant
    outside docstrings (comments are not in the AST)."""
    docstrings = docstring_nodes(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            yield line, "name", node.id
        elif isinstance(node, ast.Attribute):
            yield line, "attribute", node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, "definition", node.name
        elif isinstance(node, ast.arg):
            yield line, "argument", node.arg
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield line, "keyword", node.arg
        elif isinstance(node, ast.alias):
            yield line, "import", node.name
            if node.asname:
                yield line, "import", node.asname
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, "import", node.module
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str | bytes)
            and id(node) not in docstrings
        ):
            text = node.value if isinstance(node.value, str) else repr(node.value)
            yield line, "string", text


def test_no_core_module_names_a_provider() -> None:
    found: list[tuple[str, int, str]] = []
    for path in python_files(CORE):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, kind, text in names_in_code(tree):
            lowered = text.lower()
            for word in PROVIDER_WORDS:
                if word in lowered:
                    where = str(path.relative_to(ROOT))
                    found.append((where, line, f"{kind} {text[:80]!r} names {word!r}"))
    assert found == [], "the core names providers (they belong in plugins):\n" + "\n".join(
        f"{where}:{line}: {what}" for where, line, what in sorted(found)
    )


def test_the_provider_name_guard_sees_code_and_skips_prose() -> None:
    source = textwrap.dedent(
        '''
        """A docstring may say vatel."""
        # so may a comment: nextevi
        import voiceadapters_vatel
        URL = "binary-pcm://host"
        def f(workbuddy_key):
            """Prose: binary_pcm."""
            return voiceadapters_vatel.x.NextEviThing
        '''
    )
    seen = {(kind, text) for _, kind, text in names_in_code(ast.parse(source))}
    assert ("import", "voiceadapters_vatel") in seen
    assert ("string", "binary-pcm://host") in seen
    assert ("argument", "workbuddy_key") in seen
    assert ("attribute", "NextEviThing") in seen
    assert not any("docstring" in text or "Prose" in text for _, text in seen)


# -- b. no import cycles ------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A package whose internal imports are checked for cycles."""

    directory: Path

    @property
    def name(self) -> str:
        return self.directory.name

    def modules(self) -> dict[str, Path]:
        return {module_name(p, self.directory): p for p in python_files(self.directory)}


PACKAGES = [
    Package(CORE),
    *(Package(d) for d in sorted((ROOT / "plugins").glob("*/voiceadapters_*")) if d.is_dir()),
    Package(ROOT / "conformance" / "voiceadapters_conformance"),
    Package(ROOT / "bridge" / "voiceadapters_bridge"),
]


def import_time_statements(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported, or that a type checker
    follows: at module level, in ``if``/``try``/``with`` blocks (so under
    ``if TYPE_CHECKING:`` too) and in class bodies; not inside functions."""
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                block = getattr(stmt, field, None)
                if isinstance(block, list):
                    for item in block:
                        inner = (
                            item.body
                            if isinstance(item, ast.excepthandler | ast.match_case)
                            else [item]
                        )
                        yield from import_time_statements(inner)


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of ``from <node.module> import …`` in ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(package: Package) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports.

    ``import a.b`` is an edge to ``a.b``; ``from .x import y`` an edge to
    ``pkg.x`` and also to ``pkg.x.y`` when ``y`` is a submodule. A module's
    implicit import of its own parent packages is not an edge: ``from . import
    sub`` in ``pkg.mod`` is an edge to ``pkg.sub`` only, while ``from . import
    name`` (a name defined by ``pkg/__init__.py``) is an edge to ``pkg``.
    """
    modules = package.modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if is_package:
            ancestors.add(name)
        for node in import_time_statements(tree.body):
            if isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            else:
                source = resolve_from(name, is_package, node)
                submodules = {f"{source}.{a.name}" for a in node.names} & modules.keys()
                targets = set(submodules)
                if len(submodules) < len(node.names) or source not in ancestors:
                    targets.add(source)
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each as the modules around it (first repeated
    last), starting from its smallest module; sorted."""
    cycles: set[tuple[str, ...]] = set()
    for start in sorted(graph):
        # Only cycles whose smallest module is ``start``: each is found once.
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.add((*path, start))
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return [list(c) for c in sorted(cycles)]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_no_import_cycle_within_the_package(package: Package) -> None:
    cycles = find_cycles(import_graph(package))
    assert cycles == [], f"import cycles in {package.name}:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_cycle_finder_reports_the_modules_around_each_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
    )
    (pkg / "b.py").write_text("from . import a\nfrom .sub import c\nB = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import b\ndef late():\n    import pkg.a\n")
    graph = import_graph(Package(pkg))
    assert graph["pkg.a"] == {"pkg.b"}, "an import under TYPE_CHECKING is an edge"
    assert graph["pkg.b"] == {"pkg.a", "pkg.sub", "pkg.sub.c"}, "submodules are edges"
    assert graph["pkg.sub.c"] == {"pkg.b"}, "imports in functions are not edges"
    assert find_cycles(graph) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.b", "pkg.sub.c", "pkg.b"],
    ]


# -- c. cheap imports ------------------------------------------------------------------------


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def plugin_modules(modules: set[str], *parts: str) -> list[str]:
    """The plugins' ``parts`` modules (``codec``, ``simulator``) among ``modules``."""
    return sorted(
        m
        for m in modules
        for package in PLUGINS.values()
        for part in parts
        if m == f"{package}.{part}" or m.startswith(f"{package}.{part}.")
    )


@pytest.mark.parametrize("provider", sorted(PLUGINS))
def test_getting_a_provider_imports_no_aiohttp_codec_or_simulator(provider: str) -> None:
    modules = imported_after(f"import voiceadapters\nvoiceadapters.get_provider({provider!r})")
    assert PLUGINS[provider] in modules, "the plugin was loaded"
    aiohttp = sorted(m for m in modules if m == "aiohttp" or m.startswith("aiohttp."))
    heavy = plugin_modules(modules, "codec", "simulator")
    if "voiceadapters.simulator.server" in modules:
        heavy.append("voiceadapters.simulator.server")
    assert not heavy, f"get_provider({provider!r}) imported {heavy}"
    assert not aiohttp, f"get_provider({provider!r}) imported aiohttp ({len(aiohttp)} modules)"


def forbidden_on_the_client(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m == "aiohttp.web"
        or m == "voiceadapters.simulator"
        or m.startswith("voiceadapters.simulator.")
    ) + plugin_modules(modules, "simulator")


def test_the_client_side_modules_import_no_server_or_simulator() -> None:
    modules = imported_after("import voiceadapters.session, voiceadapters.transports.network")
    forbidden = forbidden_on_the_client(modules)
    assert not forbidden, f"the client side imported {forbidden}"


SERVER = """
import asyncio, sys
from voiceadapters.testing import serve_simulator

async def main():
    async with serve_simulator(sys.argv[1], api_key=sys.argv[2]) as (_, config, _sim):
        print(config, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

CLIENT = """
import asyncio, json, sys
import voiceadapters

async def main():
    async with voiceadapters.connect(sys.argv[1], api_key=sys.argv[2]) as session:
        first = await session.next_event(timeout=30)
        print(first.type)

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.network
@pytest.mark.parametrize("provider", sorted(PLUGINS))
def test_a_network_session_imports_no_server_or_simulator_on_the_client(provider: str) -> None:
    # The server runs in a process of its own, so that nothing it imports
    # is counted against the client.
    key = "sk-structure-test"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, provider, key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        config = server.stdout.readline().strip()
        assert "://" in config, "the simulator server did not start"
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, config, key],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    first, modules = done.stdout.strip().splitlines()[-2:]
    assert first != "session_ended", "the session opened"
    forbidden = forbidden_on_the_client(set(json.loads(modules)))
    assert not forbidden, f"a {provider} client imported {forbidden}"
