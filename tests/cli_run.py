"""Run the emiss CLI in-process from a test (shared by the CLI tests)."""

from __future__ import annotations

from emiss.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``emiss ARGS``; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err
