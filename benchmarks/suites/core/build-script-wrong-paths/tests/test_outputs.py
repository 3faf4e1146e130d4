"""Reruns the fixed build script, checks the tool against zlib.adler32, the list and the tarball."""
import os
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

r = subprocess.run(["bash", "/app/build.sh"], capture_output=True, text=True, timeout=120, cwd="/tmp")
assert r.returncode == 0, f"/app/build.sh failed:\n{r.stdout}{r.stderr}"
assert "self-test ok" in r.stdout, r.stdout
assert Path("/app/dist/VERSION").read_text().strip() == "1.4.2"

exe = "/app/dist/checksum"
with tempfile.TemporaryDirectory() as d:
    files = []
    for i, data in enumerate([b"", b"Wikipedia", os.urandom(50000), b"x" * 100000]):
        p = os.path.join(d, f"f{i}")
        Path(p).write_bytes(data)
        files.append((p, data))
    out = subprocess.run([exe, *[p for p, _ in files]], capture_output=True, text=True, timeout=10).stdout
    assert out.splitlines() == [f"{zlib.adler32(data):08x}  {p}" for p, data in files], out

names = ["/app/data/a.txt", "/app/data/b.txt", "/app/data/empty.txt"]
expected = [f"{zlib.adler32(Path(n).read_bytes()):08x}  {n}" for n in names]
path = Path("/app/checksums.txt")
assert path.is_file(), "/app/checksums.txt is missing"
assert path.read_text().splitlines() == expected, path.read_text()

tgz = Path("/app/release/checksum-1.4.2.tar.gz")
assert tgz.is_file(), f"{tgz} is missing"
with tarfile.open(tgz, "r:gz") as tar:
    members = {m.name[2:] if m.name.startswith("./") else m.name: m for m in tar.getmembers() if m.name not in (".", "./")}
    assert sorted(members) == ["VERSION", "checksum"], f"archive members: {sorted(members)}"
    assert tar.extractfile(members["VERSION"]).read().decode().strip() == "1.4.2"
    assert tar.extractfile(members["checksum"]).read() == Path(exe).read_bytes(), "archived checksum differs from /app/dist/checksum"
    assert members["checksum"].mode & 0o111, "archived checksum is not executable"
print("ok")
