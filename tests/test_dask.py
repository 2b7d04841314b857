"""The same scan on a dask.distributed cluster gives the same file as local processes."""

from __future__ import annotations

import pytest
import scan_toy as T

from emiss.errors import EmissError
from emiss.inference.scan import scan
from emiss.io import dumps_json

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_equals_local(tmp_path):
    ws = T.workspace(inject_mass=1.5)
    pss = [T.patchset(ws, [1.2, 1.5, 1.8]), T.sm_patchset(ws)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        doc_dask = scan(ws, pss, tmp_path / "dask.json", executor="dask",
                        scheduler=cluster.scheduler_address, engine=T.ENGINE, chunk_size=2,
                        progress=False)
    doc_local = scan(ws, pss, tmp_path / "local.json", jobs=2, engine=T.ENGINE, chunk_size=2,
                     progress=False)
    assert [r["status"] for r in doc_dask["results"]] == ["ok"] * 4
    assert dumps_json(doc_dask) == dumps_json(doc_local)
    assert (tmp_path / "dask.json").read_bytes() == (tmp_path / "local.json").read_bytes()


def test_dask_needs_scheduler():
    ws = T.workspace()
    with pytest.raises(EmissError, match="--scheduler"):
        scan(ws, [T.sm_patchset(ws)], None, executor="dask", scheduler=None)
