"""Re-record the simulator cassettes every first-party plugin ships
(``plugins/<plugin>/tests/cassettes/simulator-*.jsonl``; docs/cassettes.md).

Each is a session with the plugin's simulator on 127.0.0.1: the bundled
speech sample (first 1.5 s) streamed faster than real time, agent audio
replaced by length markers (``audio=marker``). Every file is scanned for the
key and the tokens the simulator issued before this script reports success.

    python tools/record_cassettes.py                # every provider's
    python tools/record_cassettes.py deepgram       # only these providers' files
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from voiceadapters.cassette.tools import find_secrets, record_simulator

ROOT = Path(__file__).resolve().parent.parent
#: Published on purpose: the simulators guard nothing. A shipped-cassette test
#: scans for it.
KEY = "sk-cassette-simulator-key-0001"

#: provider, scenario, where the cassette goes.
CASSETTES = [
    ("vatel", "echo", "plugins/vatel/tests/cassettes/simulator-echo.jsonl"),
    ("vatel", "tool_call", "plugins/vatel/tests/cassettes/simulator-tool-call.jsonl"),
    ("binary-pcm", "echo", "plugins/binary_pcm/tests/cassettes/simulator-echo.jsonl"),
    ("nextevi", "echo", "plugins/nextevi/tests/cassettes/simulator-echo.jsonl"),
    ("example", "echo", "plugins/example/tests/cassettes/simulator-echo.jsonl"),
    ("deepgram", "echo", "plugins/deepgram/tests/cassettes/simulator-echo.jsonl"),
    ("deepgram", "tool_call", "plugins/deepgram/tests/cassettes/simulator-tool-call.jsonl"),
    ("openai", "echo", "plugins/openai_realtime/tests/cassettes/simulator-echo.jsonl"),
    ("openai", "tool_call", "plugins/openai_realtime/tests/cassettes/simulator-tool-call.jsonl"),
]


async def main(providers: list[str]) -> int:
    known = {provider for provider, _, _ in CASSETTES}
    unknown = sorted(set(providers) - known)
    if unknown:
        print(
            f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for provider, scenario, relative in CASSETTES:
        if providers and provider not in providers:
            continue
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        secrets = await record_simulator(
            provider,
            path,
            api_key=KEY,
            scenario=scenario,
            seconds=1.5,
            comment=f"recorded from the {provider} simulator (scenario {scenario}) "
            "by tools/record_cassettes.py",
        )
        leaked = find_secrets(path, secrets)
        if leaked:
            print(f"{relative}: SECRETS FOUND ({', '.join(leaked)})", file=sys.stderr)
            failed += 1
            continue
        print(f"wrote {relative} ({path.stat().st_size} bytes; {len(secrets)} secrets scrubbed)")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Re-record the shipped simulator cassettes.")
    parser.add_argument(
        "providers", nargs="*", metavar="PROVIDER", help="only these providers (default: all)"
    )
    sys.exit(asyncio.run(main(parser.parse_args().providers)))
