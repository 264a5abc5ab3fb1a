#!/usr/bin/env python3
"""Packs Ward's proxy-wasm filter as an OCI image that Istio can pull.

The image is the "compat" variant Istio reads: one
`application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`.
It is written as an OCI image layout (a directory) with fixed timestamps
and owners, so the same module always gives the same manifest digest: the
digest can be pinned in the WasmPlugin before the image is pushed, and a
registry that keeps the manifest as pushed serves exactly that digest.

    oci_image.py build --wasm ward_filter.wasm --out DIR [--tag 0.1.0]
        writes the layout, prints {"manifest_digest", "module_sha256", ...}
    oci_image.py pin --manifest wasmplugin.yaml --digest HEX [--url oci://...]
        sets spec.sha256 (and spec.url) in a WasmPlugin manifest in place

Standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
MODULE_NAME = "plugin.wasm"  # the file name Istio looks for in the layer
WASM_MAGIC = b"\0asm"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(module):
    """An uncompressed tar with only plugin.wasm, owned by root, at time 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MODULE_NAME)
        info.size = len(module)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(module))
    return buf.getvalue()


def gzipped(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(data)
    return buf.getvalue()


def build(module, out, tag):
    if not module.startswith(WASM_MAGIC):
        raise SystemExit("not a WebAssembly module (bad magic)")
    tar = layer_tar(module)
    layer = gzipped(tar)
    config = canonical({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256(tar)]},
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": "sha256:" + sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": "sha256:" + sha256(layer), "size": len(layer)}],
    })
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    for blob in (layer, config, manifest):
        with open(os.path.join(blobs, sha256(blob)), "wb") as f:
            f.write(blob)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": "sha256:" + sha256(manifest),
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return {
        "manifest_digest": sha256(manifest),
        "module_sha256": sha256(module),
        "module_bytes": len(module),
        "layout": os.path.abspath(out),
        "tag": tag,
    }


def pin(path, digest, url=None):
    """Rewrites the `sha256:` (and `url:`) lines under `spec:` in place."""
    if not re.fullmatch(r"[a-f0-9]{64}", digest):
        raise SystemExit("digest must be 64 lowercase hex digits (no sha256: prefix)")
    text = open(path).read()
    text, n = re.subn(r"(?m)^(  sha256:)[ \t]*\S*$", lambda m: f"{m.group(1)} {digest}", text)
    if n != 1:
        raise SystemExit(f"{path}: expected one `  sha256:` line under spec, found {n}")
    if url is not None:
        text, n = re.subn(r"(?m)^(  url:)[ \t]*\S*$", lambda m: f"{m.group(1)} {url}", text)
        if n != 1:
            raise SystemExit(f"{path}: expected one `  url:` line under spec, found {n}")
    with open(path, "w") as f:
        f.write(text)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write an OCI image layout holding the module")
    b.add_argument("--wasm", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--tag", default="latest")
    s = sub.add_parser("pin", help="pin a digest (and url) in a WasmPlugin manifest")
    s.add_argument("--manifest", required=True)
    s.add_argument("--digest", required=True)
    s.add_argument("--url")
    args = p.parse_args(argv)
    if args.command == "build":
        with open(args.wasm, "rb") as f:
            print(json.dumps(build(f.read(), args.out, args.tag), indent=2))
    else:
        pin(args.manifest, args.digest, args.url)


if __name__ == "__main__":
    main(sys.argv[1:])
