"""``emiss data fetch belle2-knunu`` against a local mirror of HEPData (never the network).

The mirror serves the original-submission archive under HEPData's download path, with the
files renamed and nested in an inner archive, as HEPData stores additional resources.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from belle2_data import FILES, require_data

from emiss.bundles import belle2_fetch
from emiss.bundles.belle2_hepdata import STEM
from emiss.cli import main


def _mirror(data: Path, root: Path, alter: bool = False) -> str:
    """A file:// HEPData mirror holding ins2947386's submission archive."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("likelihood/Belle2_knunu_likelihood.json",
                    (data / FILES[0]).read_bytes())
    target = root / "download" / "submission" / "ins2947386" / "1"
    target.mkdir(parents=True)
    with tarfile.open(target / "original", "w:gz") as tf:
        def add(name: str, payload: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
        add("submission.yaml", b"comment: mirror\n")
        add("resources/likelihood.zip", inner.getvalue())
        for i, f in enumerate(FILES[1:]):
            payload = (data / f).read_bytes()
            if alter and i == 1:
                payload = payload.replace(b"0", b"1", 1)
            add(f"resources/table_{i}.csv", payload)
    return root.as_uri()


def test_fetch_from_a_mirror_imports_the_record(tmp_path, capsys):
    data = require_data()
    url = _mirror(data, tmp_path / "mirror")
    dest = tmp_path / "dest"
    main(["data", "fetch", "belle2-knunu", "-o", str(dest), "--mirror", url])
    for f in FILES:  # the record's files under their record names, byte for byte
        assert (dest / f).read_bytes() == (data / f).read_bytes()
    assert (dest / f"{STEM}.json").is_file() and (dest / f"{STEM}.meta.json").is_file()
    assert str(dest / f"{STEM}.json") in capsys.readouterr().out


def test_altered_download_is_refused_and_nothing_written(tmp_path, capsys):
    data = require_data()
    url = _mirror(data, tmp_path / "mirror", alter=True)
    dest = tmp_path / "dest"
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "belle2-knunu", "--to", str(dest), "--mirror", url])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("emiss: error:") and "sha256" in err and len(err.splitlines()) == 1
    assert not dest.exists()


def test_unreachable_mirror_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "belle2-knunu", "--to", str(tmp_path / "d"),
              "--mirror", (tmp_path / "nowhere").as_uri()])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "download of" in err and len(err.splitlines()) == 1


def test_archive_paths_outside_the_folder_are_refused(tmp_path):
    bad = tmp_path / "evil.tar"
    with tarfile.open(bad, "w") as tf:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "out").mkdir()
    with pytest.raises(Exception, match="outside"):
        belle2_fetch._unpack(bad, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
