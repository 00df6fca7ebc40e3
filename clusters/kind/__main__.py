"""`python -m clusters.kind engine up|down|status` and `python -m clusters.kind node-image`.

``engine up`` makes sure a container engine answers (starting the project's
own dockerd only where none does) and prints the ``DOCKER_HOST=...`` line a
shell needs for it; ``engine down`` stops and undoes only that engine.
``node-image`` builds the offline kind node image (cached) and prints its tag.
Errors are one line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from clusters.toolbox.command_line import run_command


def _progress(message: str) -> None:
    print(f"[rcc-kind] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clusters.kind", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    engine = commands.add_parser("engine", help="the container engine kind uses")
    engine.add_argument("action", choices=("up", "down", "status"))
    engine.add_argument("--purge", action="store_true", help="with down: also delete the engine's images")
    image = commands.add_parser("node-image", help="build (or reuse) the offline kind node image")
    image.add_argument("--rebuild", action="store_true", help="build even when the cached image matches")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command("python -m clusters.kind", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command == "engine":
        from clusters.kind import engine
        if args.action == "up":
            for key, value in engine.up(_progress).items():
                print(f"export {key}={value}")
        elif args.action == "down":
            engine.down(_progress, purge=args.purge)
        else:
            print(json.dumps(engine.status(), indent=2))
    else:
        from clusters.kind import node_image
        print(node_image.ensure_node_image(progress=_progress, rebuild=args.rebuild))
    return 0


if __name__ == "__main__":
    sys.exit(main())
