"""MathJax 3 for the offline book: the npm tarball, checked against its SHA-512, unpacked once."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from book_common import BUILD, BookError, log, run

MATHJAX_VERSION = "3.2.2"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
MATHJAX_SHA512 = (
    "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# _config.yml: html_static_path ["_build/mathjax"], mathjax_path "mathjax/tex-chtml-full.js".
MATHJAX_STATIC_ROOT = BUILD / "mathjax"
MATHJAX_ENTRY = "tex-chtml-full.js"
# Parts of the npm package's es5/ folder that the CHTML bundle loads at run time.
MATHJAX_KEEP = (MATHJAX_ENTRY, "output/chtml/", "ui/", "a11y/", "adaptors/")


def _download_mathjax(target: Path) -> None:
    tarball = os.environ.get("GLTH_MATHJAX_TARBALL")
    if tarball:
        data = Path(tarball).read_bytes()
        origin = tarball
    else:
        origin = MATHJAX_URL
        try:
            with urllib.request.urlopen(MATHJAX_URL, timeout=60) as response:
                data = response.read()
        except OSError as error:
            log(f"download of {MATHJAX_URL} failed ({error}); trying `npm pack`")
            npm = shutil.which("npm")
            if npm is None:
                raise BookError(
                    f"cannot fetch MathJax {MATHJAX_VERSION}: {MATHJAX_URL} is unreachable and npm "
                    f"is not installed. On a machine with access run `npm pack mathjax@{MATHJAX_VERSION}` "
                    "and set GLTH_MATHJAX_TARBALL to the .tgz it writes"
                ) from None
            with tempfile.TemporaryDirectory() as tmp:
                run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=Path(tmp),
                    what="npm pack mathjax")
                data = next(Path(tmp).glob("mathjax-*.tgz")).read_bytes()
            origin = "npm pack"
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != MATHJAX_SHA512:
        raise BookError(f"MathJax tarball from {origin} fails its SHA-512 check (got {digest})")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            relative = member.name[len("package/"):]
            if relative in ("LICENSE", "package.json"):
                dest = relative
            elif relative.startswith("es5/") and relative[4:].startswith(MATHJAX_KEEP):
                dest = relative[4:]
            else:
                continue
            out = target / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.extractfile(member).read())
    log(f"MathJax {MATHJAX_VERSION} from {origin} unpacked")


def fetch_mathjax() -> Path:
    """Ensure ``_build/mathjax/mathjax/`` holds MathJax (verified tarball); return the static root."""
    folder = MATHJAX_STATIC_ROOT / "mathjax"
    stamp = folder / ".version"
    if stamp.is_file() and stamp.read_text() == MATHJAX_VERSION and (folder / MATHJAX_ENTRY).is_file():
        return MATHJAX_STATIC_ROOT
    MATHJAX_STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=MATHJAX_STATIC_ROOT))
    try:
        _download_mathjax(partial)
        (partial / ".version").write_text(MATHJAX_VERSION)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return MATHJAX_STATIC_ROOT

