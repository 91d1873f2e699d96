#!/usr/bin/env python3
"""Whether two dictionary folders hold the same dictionary, byte for byte, apart from what differs by nature.

    python3 scripts/checks/same_dictionary.py DICT_A DICT_B

Compares every file of both folders (and of their subfolders: a folder of percentiles or hooks) with its namesake.
Masked before comparing, as in scripts/checks/byte_identity.sh: in .json files the values of "created" (when the
dictionary was written) and "elapsed_s" (timings), and the manifest's "bytes" of build_log.json and build_state.json
(their timings' digit count changes their size; their SHA-256 is not recorded). Everything else — regions.safetensors,
contexts.safetensors, the manifest, the build log's entries, the build state — must be identical. Exit status 0 when
they are, 1 otherwise (the differing files are listed).
"""
import os
import re
import sys

MASK = re.compile(r'("(?:created|elapsed_s)"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null)')
SIZES = re.compile(r'("name": "build_(?:log|state)\.json",\s*"bytes": )[0-9]+')


def files(root):
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def content(path):
    data = open(path, 'rb').read()
    if path.endswith('.json'):
        text = data.decode('utf-8', 'surrogateescape')
        text = MASK.sub(lambda m: m.group(1) + '"<masked>"', text)
        text = SIZES.sub(r'\1"<masked>"', text)
        data = text.encode('utf-8', 'surrogateescape')
    return data


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1:]
    for d in (a, b):
        if not os.path.isdir(d):
            sys.exit(f"{d}: not a folder")
    fa, fb = files(a), files(b)
    status = 0
    for rel in sorted(fa | fb):
        if rel not in fa or rel not in fb:
            print(f"only in {a if rel in fa else b}: {rel}")
            status = 1
        elif content(os.path.join(a, rel)) != content(os.path.join(b, rel)):
            print(f"differs: {rel}")
            status = 1
        else:
            print(f"identical: {rel} ({os.path.getsize(os.path.join(a, rel)):,} bytes)")
    print("same dictionary" if status == 0 else "NOT the same dictionary")
    sys.exit(status)


if __name__ == '__main__':
    main()
