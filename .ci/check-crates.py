#!/usr/bin/env python3
"""Per-crate checks that cargo does not make (STYLE.md §12):

- every published crate's version equals its [workspace.dependencies] entry and the top
  "## X.Y.Z" heading of its CHANGELOG.md;
- every published crate has a README.md and opts into the workspace lints;
- nothing depends on talos-node.
"""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parent.parent
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
    capture_output=True, text=True, check=True, cwd=root).stdout)
workspace = tomllib.loads((root / "Cargo.toml").read_text())
pinned = workspace["workspace"]["dependencies"]
errors = []

for pkg in meta["packages"]:
    name, version = pkg["name"], pkg["version"]
    crate_dir = Path(pkg["manifest_path"]).parent
    manifest = tomllib.loads(Path(pkg["manifest_path"]).read_text())
    if manifest.get("lints", {}).get("workspace") is not True:
        errors.append(f"{name}: [lints] workspace = true is missing")
    for dep in pkg["dependencies"]:
        if dep["name"] == "talos-node":
            errors.append(f"{name} depends on talos-node; nothing may")
    if pkg.get("publish") == []:
        continue
    entry = pinned.get(name)
    if not isinstance(entry, dict) or entry.get("version") != version:
        errors.append(f"{name}: version {version} differs from [workspace.dependencies] {entry}")
    changelog = crate_dir / "CHANGELOG.md"
    if not changelog.exists():
        errors.append(f"{name}: CHANGELOG.md is missing")
    else:
        top = re.search(r"^## (\S+)", changelog.read_text(), re.M)
        if not top or top.group(1) not in (version, "Unreleased"):
            errors.append(f"{name}: CHANGELOG.md's top heading {top and top.group(1)!r} is not {version}")
    if not (crate_dir / "README.md").exists():
        errors.append(f"{name}: README.md is missing")

for e in errors:
    print("ci:", e, file=sys.stderr)
print(f"checked {len(meta['packages'])} packages: {len(errors)} problems")
sys.exit(1 if errors else 0)
