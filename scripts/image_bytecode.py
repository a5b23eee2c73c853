"""Turns the Python sources under the given folders into bytecode only, as `python -OO` has it.

Used by scripts/build-image.sh, run by the image's own Python: each `module.py` becomes
`module.pyc` beside it (which Python imports with no source) and the source and any
`__pycache__` go. The bytecode is optimised as `python -OO` makes it: without docstrings (text
for people reading the code, about a fifth of the bytecode) and without `assert` statements,
which is the combination libraries are written and tested to run in (SQLAlchemy asserts on its
own docstrings, for one). Line numbers stay, so tracebacks still name each frame's file and
line. A file that does not compile (a template named .py) keeps its source.

    python3 - [--keep PREFIX]... FOLDER... < image_bytecode.py

Files under a `--keep` prefix are left as they are (the project's own code keeps its sources,
docstrings and asserts: its commands' help is made from its docstrings).
"""

from __future__ import annotations

import importlib._bootstrap_external as external
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def compile_one(source: str) -> bool:
    """Write `source`'s bytecode beside it and remove it; False when it does not compile."""
    path = Path(source)
    try:
        data = path.read_bytes()
        code = compile(data, source, "exec", dont_inherit=True, optimize=2)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return False
    stat = path.stat()
    timestamp = external._code_to_timestamp_pyc  # type: ignore[attr-defined]
    pyc = timestamp(code, int(stat.st_mtime), stat.st_size)
    target = path.with_name(path.name + "c")
    target.write_bytes(pyc)
    os.chmod(target, 0o644)
    path.unlink()
    return True


def main(argv: list[str]) -> int:
    keep: list[str] = []
    folders: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--keep":
            keep.append(next(args))
        else:
            folders.append(arg)
    sources: list[str] = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            if any(root == prefix or root.startswith(prefix + "/") for prefix in keep):
                dirs.clear()
                continue
            if "__pycache__" in dirs:
                shutil.rmtree(os.path.join(root, "__pycache__"))
                dirs.remove("__pycache__")
            sources += [
                os.path.join(root, name)
                for name in files
                if name.endswith(".py") and not os.path.islink(os.path.join(root, name))
            ]
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(compile_one, sources, chunksize=64))
    kept = [source for source, ok in zip(sources, done, strict=True) if not ok]
    print(
        f"bytecode: {len(sources) - len(kept)} modules compiled, {len(kept)} sources kept",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
